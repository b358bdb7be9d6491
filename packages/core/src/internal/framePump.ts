/**
 * The frame source of a publish, read by a fiber of its own into a one-batch queue: the publisher takes
 * batches from it across connections, and an attempt that ends (failure, interruption) while waiting
 * for a batch loses nothing, since a batch is either still in the queue or already taken.
 *
 * @internal
 */
import { Cause, Effect, Exit, Pull, Queue, type Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { MediaFrame } from "../MediaFrame.ts"

/** @internal */
export interface FramePump<E> {
  /** The next batch of frames, or `undefined` once the source has ended; fails with the source's error. */
  readonly take: Effect.Effect<NonEmptyReadonlyArray<MediaFrame> | undefined, E>
}

/**
 * Starts reading `frames` in a fiber of the Scope. It reads at most one batch ahead of what was taken
 * (backpressure: the source is not read while no connection takes frames).
 *
 * @internal
 */
export const start = <E, R>(
  frames: Stream.Stream<MediaFrame, E, R>
): Effect.Effect<FramePump<E>, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const queue = yield* Queue.bounded<NonEmptyReadonlyArray<MediaFrame>, E | Cause.Done>(1)
    yield* Stream.runForEachArray(frames, (batch) => Queue.offer(queue, batch)).pipe(
      Effect.exit,
      Effect.flatMap((exit) => Exit.isSuccess(exit) ? Queue.end(queue) : Queue.failCause(queue, exit.cause)),
      Effect.forkScoped
    )
    return {
      take: Pull.catchDone(Queue.take(queue), () => Effect.succeed(undefined))
    }
  })
