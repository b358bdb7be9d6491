/**
 * The CLI's progress line: what a terminal shows each second.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Telemetry } from "@effect-rtmp/core"
import { progressLine } from "../src/Output.ts"

const snapshot = (more: Partial<Telemetry.Snapshot> = {}): Telemetry.Snapshot => ({
  elapsedMs: 3_725_400,
  bitrate: 5_981_000,
  inputBitrate: 6_000_000,
  fps: 29.97,
  frames: 2490,
  bytes: 61_234_567,
  mediaTime: 3_720_000,
  queue: { frames: 4, bytes: 30_000, durationMs: 120, ageMs: 125 },
  droppedFrames: {},
  rttMs: 3,
  bytesAcknowledged: 61_000_000,
  reconnects: 0,
  recommendedBitrate: undefined,
  ...more
})

describe("progressLine", () => {
  it("time, frames, bitrate and bytes as before, then frame rate, queue and round trip", () => {
    assert.strictEqual(
      progressLine(snapshot()),
      "01:02:05  frames 2490  5.98 Mb/s  61.2 MB  30 fps  queue 0.12 s  rtt 3 ms"
    )
  })

  it("drops per track and the recommendation when there are; no rtt when the server does not answer pings", () => {
    assert.strictEqual(
      progressLine(snapshot({
        rttMs: undefined,
        droppedFrames: { "video:0": 87, "video:1": 3 },
        recommendedBitrate: 850_000
      })),
      "01:02:05  frames 2490  5.98 Mb/s  61.2 MB  30 fps  queue 0.12 s  dropped video:0 87, video:1 3  try 0.85 Mb/s"
    )
  })
})
