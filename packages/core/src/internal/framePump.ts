/**
 * The frame source of a publish, read by a fiber of its own into the publish's `SendQueue`: the
 * publisher takes batches from it across connections, and an attempt that ends (failure, interruption)
 * while waiting for a batch loses nothing, since a frame is either still queued or already taken.
 *
 * With policy `"wait"` the source is not read while the queue is full (backpressure); with `"drop"`
 * (live sources) it is always read, and the queue drops video at its bounds.
 *
 * @internal
 */
import { Clock, Effect, Exit, Latch, type Scope, Stream } from "effect"
import * as Arr from "effect/Array"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { MediaFrame } from "../MediaFrame.ts"
import * as SendQueue from "../SendQueue.ts"

/** @internal */
export interface FramePump<E> {
  /**
   * The oldest queued frames (at most about `maxBytes` of payloads), waiting for one if none is queued,
   * or `undefined` once the source has ended and everything was taken; fails with the source's error.
   */
  readonly take: (maxBytes: number) => Effect.Effect<NonEmptyReadonlyArray<MediaFrame> | undefined, E>
  readonly queue: SendQueue.SendQueue
}

/**
 * Starts reading `frames` into a send queue in a fiber of the Scope.
 *
 * @internal
 */
export const start = <E, R>(
  frames: Stream.Stream<MediaFrame, E, R>,
  options: SendQueue.Options
): Effect.Effect<FramePump<E>, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const queue = SendQueue.make(options)
    /** Open while frames are queued or the source has ended. */
    const readable = yield* Latch.make(false)
    /** Open while the queue has room (policy "wait"). */
    const writable = yield* Latch.make(true)
    let end: Exit.Exit<void, E> | undefined

    const offer = (batch: NonEmptyReadonlyArray<MediaFrame>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        for (const frame of batch) queue.push(frame, now)
        if (queue.frames() > 0) readable.openUnsafe()
        if (!queue.full() || queue.policy === "drop") return Effect.void
        writable.closeUnsafe()
        return writable.await
      })
    yield* Stream.runForEachArray(frames, offer).pipe(
      Effect.exit,
      Effect.flatMap((exit) =>
        Effect.sync(() => {
          end = exit
          readable.openUnsafe()
        })
      ),
      Effect.forkScoped
    )

    const take = (maxBytes: number): Effect.Effect<NonEmptyReadonlyArray<MediaFrame> | undefined, E> =>
      Effect.suspend(() => {
        const batch = queue.take(maxBytes)
        if (Arr.isArrayNonEmpty(batch)) {
          if (!queue.full()) writable.openUnsafe()
          return Effect.succeed(batch)
        }
        if (end !== undefined) return Exit.isSuccess(end) ? Effect.succeed(undefined) : Effect.failCause(end.cause)
        readable.closeUnsafe()
        return Effect.flatMap(readable.await, () => take(maxBytes))
      })
    return { take, queue }
  })
