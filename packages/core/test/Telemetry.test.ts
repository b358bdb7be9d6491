/**
 * Telemetry: the bitrate estimator, and a publish's snapshots as a Stream and as Effect metrics.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as Publisher from "../src/Publisher.ts"
import * as Telemetry from "../src/Telemetry.ts"
import { bytes, frame } from "./support/frames.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

describe("Telemetry.makeEstimator", () => {
  it("nothing to recommend without congestion; 85 % of what was delivered under it; then up by 8 % a step until the input's rate", () => {
    const estimator = Telemetry.makeEstimator()
    const next = (deliveredBitrate: number, congested: boolean, inputBitrate = 3_000_000) =>
      estimator.next({ deliveredBitrate, inputBitrate, congested })
    assert.strictEqual(next(3_000_000, false), undefined)
    assert.strictEqual(next(1_000_000, true), 850_000)
    assert.strictEqual(next(600_000, true), 510_000, "each congested step measures the link again")
    assert.strictEqual(next(500_000, false, 500_000), 550_800)
    assert.strictEqual(next(2_000_000, false, 500_000), 2_000_000, "or what was delivered, when more")
    assert.strictEqual(next(2_000_000, false, 2_000_000), 2_160_000)
    assert.strictEqual(next(2_900_000, false, 2_900_000), 2_900_000)
    assert.strictEqual(next(3_000_000, false, 3_000_000), undefined, "back at the highest input rate: over")
  })
})

/** 3 s of a 30 fps show with audio, 5000-byte video frames, one keyframe a second. */
const show: ReadonlyArray<MediaFrame> = [
  frame("video", 0, bytes(38, 1), { config: true, keyframe: true }),
  frame("audio", 0, Uint8Array.of(0x12, 0x10), { config: true }),
  ...Array.from({ length: 90 }, (_, i) => [
    frame("video", Math.round(i * 33.3), bytes(5000, i), { keyframe: i % 30 === 0 }),
    frame("audio", Math.round(i * 33.3) + 10, bytes(200, 500 + i))
  ]).flat()
]

describe("Publisher.publishStats", () => {
  it.effect("a Stream of snapshots, the last one when the publish ended; the metrics carry the publish's attributes", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ acknowledge: true })
      const fiber = yield* Publisher.publishStats("rtmp://host/live/key", Stream.fromIterable(show), {
        realtime: true,
        windowAckSize: 50_000,
        metricAttributes: { stream: "telemetry-test" }
      }).pipe(Stream.runCollect, Effect.provide(server.layer), Effect.forkChild)
      for (let i = 0; i < 40 && fiber.pollUnsafe() === undefined; i++) {
        yield* TestClock.adjust("100 millis")
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
      }
      const snapshots = yield* Fiber.join(fiber)

      // One a second while the 3 s show is paced, and the last at the end.
      assert.isAtLeast(snapshots.length, 3)
      const last = snapshots.at(-1)!
      assert.strictEqual(last.frames, show.length + 1, "and the onMetaData made for it")
      assert.strictEqual(last.bytes, server.bytesReceived(1))
      assert.deepStrictEqual(last.droppedFrames, {})
      assert.isAbove(last.bytesAcknowledged, 0)
      // A paced second carries about 30 video frames of 5000 bytes: 1.2 Mb/s and more with audio and headers.
      const second = snapshots[1]!
      assert.approximately(second.fps, 30, 2)
      assert.isAbove(second.bitrate, 1_200_000)
      assert.isBelow(second.bitrate, 1_400_000)
      assert.strictEqual(second.recommendedBitrate, undefined)

      const metrics = yield* Metric.snapshot
      const of = (id: string) =>
        metrics.find((m) => m.id === id && (m.attributes as Record<string, string> | undefined)?.["stream"] === "telemetry-test")
      assert.isDefined(of("rtmp_publish_bitrate"))
      assert.isDefined(of("rtmp_publish_fps"))
      const acknowledged = of("rtmp_publish_bytes_acknowledged")
      assert.strictEqual((acknowledged?.state as { count: number } | undefined)?.count, last.bytesAcknowledged)
    }))
})
