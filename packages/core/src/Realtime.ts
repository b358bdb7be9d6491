/**
 * Pacing by media timestamps, like `ffmpeg -re`: a live server expects frames at the rate they play, not as
 * fast as a file can be read.
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"

/**
 * Options of {@link realtimeWith}.
 *
 * @since 0.1.0
 */
export interface RealtimeOptions {
  /**
   * The largest jump between the timestamps of consecutive elements, forward or backward, that is
   * still taken as elapsed media time. Larger jumps are discontinuities. Default: 5 seconds.
   */
  readonly maxGap?: Duration.Input | undefined
}

const defaultMaxGap = Duration.seconds(5)

const nowMillis = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos) / 1_000_000)

/**
 * {@link realtime} with a chosen discontinuity threshold (`maxGap`).
 *
 * @since 0.1.0
 */
export const realtimeWith = (options?: RealtimeOptions) =>
<A extends { readonly dts: number }, E, R>(frames: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.transformPull(frames, (upstream) =>
    Effect.sync(() => {
      const maxGap = Duration.toMillis(Duration.fromInputUnsafe(options?.maxGap ?? defaultMaxGap))
      // The timeline: an element with dts d is due at anchorWall + (d - anchorDts), monotonic ms
      let started = false
      let anchorWall = 0
      let anchorDts = 0
      let lastDts = 0
      /** Computes (once per element, in order) when an element is due, re-anchoring on discontinuities. */
      const dueOf = (dts: number, now: number): number => {
        if (!started) {
          started = true
          anchorWall = now
          anchorDts = dts
        } else if (Math.abs(dts - lastDts) > maxGap) {
          // A discontinuity counts as no media time: this element is due when the previous one was
          anchorWall += lastDts - anchorDts
          anchorDts = dts
        }
        lastDts = dts
        return anchorWall + (dts - anchorDts)
      }

      let batch: Arr.NonEmptyReadonlyArray<A> | undefined
      let index = 0
      /** The due time of `batch[index]`, once computed. */
      let nextDue: number | undefined

      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E> = Effect.gen(function*() {
        if (batch === undefined || index >= batch.length) {
          batch = yield* upstream
          index = 0
          nextDue = undefined
        }
        const elements = batch
        let now = yield* nowMillis
        const due = nextDue ?? dueOf(elements[index]!.dts, now)
        nextDue = undefined
        if (due > now) {
          yield* Effect.sleep(Duration.millis(due - now))
          now = Math.max(due, yield* nowMillis)
        }
        // Release this element and every following one of the batch that is due by now, together
        const out: Array<A> = [elements[index++]!]
        while (index < elements.length) {
          const d = dueOf(elements[index]!.dts, now)
          if (d > now) {
            nextDue = d
            break
          }
          out.push(elements[index++]!)
        }
        return out as unknown as Arr.NonEmptyReadonlyArray<A>
      })
      return pull
    }))

/**
 * Paces a stream by its elements' timestamps (`dts`, ms), like `ffmpeg -re`: the element with dts `d` is
 * emitted no earlier than `start + (d - firstDts)`, where `start` is when the first element was pulled. Use
 * it to publish a file to a live server at playback speed (`--realtime`); do not use it on a source that is
 * already live (a camera, `ffmpeg -re` on stdin), which paces itself.
 *
 * - Elements that are late (the consumer was slower) go out at once, so a stall is caught up in a burst,
 *   as with `-re`; small steps backwards (interleaved audio and video) are simply late.
 * - A jump of more than 5 seconds between consecutive timestamps, forward or backward, is a
 *   discontinuity (a spliced file, timestamps restarting, a stray header at 0): it is not waited for; the
 *   timeline is re-anchored so that the element after the jump is due when the one before it was. Use
 *   {@link realtimeWith} for another threshold (sparse streams with long real gaps).
 *
 * Uses Effect's `Clock` (monotonic time) and `Effect.sleep`, so `TestClock` drives it in tests.
 *
 * @since 0.1.0
 */
export const realtime: <A extends { readonly dts: number }, E, R>(
  frames: Stream.Stream<A, E, R>
) => Stream.Stream<A, E, R> = realtimeWith()
