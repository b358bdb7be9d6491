import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import * as Realtime from "../src/Realtime.ts"

interface Item {
  readonly dts: number
}

/**
 * Runs `stream` under the TestClock (started at 0), recording the virtual time each element comes out at.
 * Returns the recorder and the running fiber.
 */
const record = <E>(stream: Stream.Stream<Item, E>) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const released: Array<{ readonly dts: number; readonly at: number }> = []
    const fiber = yield* stream.pipe(
      Stream.runForEach((item) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          released.push({ dts: item.dts, at: now - start })
        })
      ),
      Effect.forkChild
    )
    return { released, fiber }
  })

const items = (...dts: ReadonlyArray<number>): ReadonlyArray<Item> => dts.map((d) => ({ dts: d }))

/** Release times of `dts` (one upstream batch, or one element per batch), after enough virtual time. */
const releaseTimes = (dts: ReadonlyArray<number>, options?: { readonly oneByOne?: boolean; readonly pace?: typeof Realtime.realtime }) =>
  Effect.gen(function*() {
    const source = options?.oneByOne ? Stream.fromIterable(items(...dts), { chunkSize: 1 }) : Stream.fromIterable(items(...dts))
    const { fiber, released } = yield* record((options?.pace ?? Realtime.realtime)(source))
    yield* TestClock.adjust("1 hour")
    assert.strictEqual(released.length, dts.length, "everything released within an hour of virtual time")
    yield* Fiber.join(fiber)
    return released.map((r) => r.at)
  })

describe("Realtime", () => {
  it.effect("releases each frame at start + (dts - first dts), not before", () =>
    Effect.gen(function*() {
      const { fiber, released } = yield* record(Realtime.realtime(Stream.fromIterable(items(1000, 1033, 1066, 1100, 2000))))
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(released.map((r) => r.dts), [1000])
      yield* TestClock.adjust(50)
      assert.deepStrictEqual(released.map((r) => r.dts), [1000, 1033])
      yield* TestClock.adjust(949)
      assert.deepStrictEqual(released.map((r) => r.dts), [1000, 1033, 1066, 1100])
      yield* TestClock.adjust(1)
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(released.map((r) => r.at), [0, 33, 66, 100, 1000])
    }))

  it.effect("the same whether the upstream comes in one batch or one element at a time", () =>
    Effect.gen(function*() {
      const dts = [0, 23, 33, 46, 66, 70, 100]
      assert.deepStrictEqual(yield* releaseTimes(dts), dts)
      assert.deepStrictEqual(yield* releaseTimes(dts, { oneByOne: true }), dts)
    }))

  it.effect("frames with equal or slightly earlier timestamps (interleaved tracks) go out without waiting", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* releaseTimes([0, 40, 40, 30, 80]), [0, 40, 40, 40, 80])
    }))

  it.effect("timestamps past 0xFFFFFF ms are paced relative to the first", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* releaseTimes([16_776_933, 16_776_967, 16_777_300]), [0, 34, 367])
    }))

  it.effect("a forward jump of more than 5 s is a discontinuity: no waiting for it, pacing goes on after it", () =>
    Effect.gen(function*() {
      // Headers at 0, then media at 16776933 (ffmpeg -output_ts_offset): no 4.6-hour wait
      assert.deepStrictEqual(yield* releaseTimes([0, 0, 16_776_933, 16_776_967]), [0, 0, 0, 34])
      assert.deepStrictEqual(yield* releaseTimes([0, 40, 100_000, 100_040, 100_080]), [0, 40, 40, 80, 120])
      // 5 s exactly is still media time
      assert.deepStrictEqual(yield* releaseTimes([0, 5000, 5040]), [0, 5000, 5040])
    }))

  it.effect("a backward jump of more than 5 s (timestamps restarting) re-anchors instead of bursting", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* releaseTimes([60_000, 60_040, 0, 40, 80]), [0, 40, 40, 80, 120])
    }))

  it.effect("realtimeWith: a larger maxGap waits through long real gaps", () =>
    Effect.gen(function*() {
      const pace = Realtime.realtimeWith({ maxGap: "1 minute" })
      assert.deepStrictEqual(yield* releaseTimes([0, 10_000, 10_040], { pace }), [0, 10_000, 10_040])
    }))

  it.effect("late frames (a slow consumer) go out at once, then pacing resumes on the original timeline", () =>
    Effect.gen(function*() {
      const released: Array<number> = []
      const fiber = yield* Realtime.realtime(Stream.fromIterable(items(0, 100, 200, 300, 400))).pipe(
        Stream.runForEach((item) =>
          Effect.gen(function*() {
            released.push(yield* Clock.currentTimeMillis)
            // The consumer takes 250 ms on the first frame
            if (item.dts === 0) yield* Effect.sleep(250)
          })
        ),
        Effect.forkChild
      )
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(released, [0, 250, 250, 300, 400])
    }))

  it.effect("errors and the end of the upstream pass through", () =>
    Effect.gen(function*() {
      const error = yield* Realtime.realtime(Stream.concat(Stream.fromIterable(items(0)), Stream.fail("boom"))).pipe(
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(error, "boom")
      assert.deepStrictEqual(yield* releaseTimes([]), [])
    }))
})
