/**
 * Turns a publish's counters and send queue into `Telemetry.Snapshot`s: rates over the interval since the
 * previous sample, congestion judged from the queue, and the bitrate recommendation.
 *
 * @internal
 */
import type { SendQueue } from "../SendQueue.ts"
import * as Telemetry from "../Telemetry.ts"

/** The counters the sampler reads (`Publisher.PublishStats`). */
export interface Counters {
  readonly frames: number
  readonly videoFrames: number
  readonly bytes: number
  readonly reconnects: number
  readonly bytesAcknowledged: number
  readonly rttMs: number | undefined
  readonly lastDts: number
}

/** @internal */
export interface Sampler {
  /** A snapshot at `now` (ms, the clock `start` was read from). */
  readonly sample: (now: number) => Telemetry.Snapshot
}

/**
 * @param maxDurationMs the queue's duration bound: a queue holding more than half of it is congested.
 * @internal
 */
export const make = (options: {
  readonly counters: Counters
  readonly queue: SendQueue
  readonly start: number
  readonly maxDurationMs: number
}): Sampler => {
  const { counters, queue } = options
  const estimator = Telemetry.makeEstimator()
  let at = options.start
  let bytes = 0
  let acknowledged = 0
  let bytesIn = 0
  let videoFrames = 0
  let drops = 0
  return {
    sample: (now) => {
      const seconds = Math.max(now - at, 1) / 1000
      const dropped = queue.dropped()
      const dropsNow = Object.values(dropped).reduce((sum, n) => sum + n, 0)
      const bitrate = Math.round(((counters.bytes - bytes) * 8) / seconds)
      const inputBitrate = Math.round(((queue.bytesIn() - bytesIn) * 8) / seconds)
      const deliveredBitrate = counters.bytesAcknowledged > 0
        ? Math.round(((counters.bytesAcknowledged - acknowledged) * 8) / seconds)
        : bitrate
      const congested = dropsNow > drops ||
        (queue.policy === "drop" ? queue.durationMs() > options.maxDurationMs / 2 : queue.full())
      const snapshot: Telemetry.Snapshot = {
        elapsedMs: now - options.start,
        bitrate,
        inputBitrate,
        fps: Math.round(((counters.videoFrames - videoFrames) / seconds) * 100) / 100,
        frames: counters.frames,
        bytes: counters.bytes,
        mediaTime: counters.lastDts,
        queue: {
          frames: queue.frames(),
          bytes: queue.bytes(),
          durationMs: queue.durationMs(),
          ageMs: now - (queue.oldestAt() ?? now)
        },
        droppedFrames: dropped,
        rttMs: counters.rttMs,
        bytesAcknowledged: counters.bytesAcknowledged,
        reconnects: counters.reconnects,
        recommendedBitrate: estimator.next({ deliveredBitrate, inputBitrate, congested })
      }
      at = now
      bytes = counters.bytes
      acknowledged = counters.bytesAcknowledged
      bytesIn = queue.bytesIn()
      videoFrames = counters.videoFrames
      drops = dropsNow
      return snapshot
    }
  }
}
