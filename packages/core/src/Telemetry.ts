/**
 * What a publish reports while it runs: periodic snapshots (`Snapshot`: bitrate, frame rate, send queue,
 * drops per track, round trip time, bytes the server acknowledged, and a bitrate recommendation), the
 * same figures as Effect metrics (`metrics`), and the estimator behind the recommendation.
 *
 * `Publisher.publish` takes snapshots every `statsInterval` (`onStats`), `Publisher.publishStats` turns a
 * publish into a Stream of them, and each snapshot updates the metrics, tagged with
 * `PublishOptions.metricAttributes` (so that the streams of one process tell apart).
 *
 * @since 0.4.0
 */
import { Effect, Metric } from "effect"

/**
 * One sample of a running publish. Rates are over the interval since the previous snapshot; counts are
 * since the publish started.
 *
 * @since 0.4.0
 */
export interface Snapshot {
  /** Milliseconds since the publish started. */
  readonly elapsedMs: number
  /** Bits per second written to the connection (chunk headers included) over the interval. */
  readonly bitrate: number
  /** Bits per second of frame payloads the source produced over the interval (dropped frames included). */
  readonly inputBitrate: number
  /** Video frames per second written over the interval. */
  readonly fps: number
  /** Frames written (each once), and bytes written, since the start. */
  readonly frames: number
  readonly bytes: number
  /** Decode timestamp of the last frame written, ms: how far into the source the publish is. */
  readonly mediaTime: number
  /** The send queue: frames and payload bytes waiting, the media time they span, the oldest one's wait. */
  readonly queue: {
    readonly frames: number
    readonly bytes: number
    readonly durationMs: number
    readonly ageMs: number
  }
  /** Frames the send queue dropped because the connection could not keep up, per track (`"video:0"`...). */
  readonly droppedFrames: Readonly<Record<string, number>>
  /** The last round trip time from Ping Request to Ping Response, ms (`undefined`: the server does not answer pings). */
  readonly rttMs: number | undefined
  /** Bytes the server acknowledged receiving (Acknowledgement messages), over all connections. */
  readonly bytesAcknowledged: number
  /** Reconnections so far. */
  readonly reconnects: number
  /**
   * The total bitrate (bits/s) the connection has shown it carries, for an encoder to aim at when it
   * could not keep up; `undefined` when there is no congestion to react to (keep the bitrate). See
   * `makeEstimator`.
   */
  readonly recommendedBitrate: number | undefined
}

/**
 * What the estimator learns from one interval.
 *
 * @since 0.4.0
 */
export interface Sample {
  /**
   * Bits per second that reached the server: acknowledged by it, or, with a server that does not
   * acknowledge, written to the connection.
   */
  readonly deliveredBitrate: number
  /** Bits per second the source produced. */
  readonly inputBitrate: number
  /** Whether the link fell behind: frames dropped, or the send queue building up. */
  readonly congested: boolean
}

/**
 * A bitrate recommendation, updated once per interval.
 *
 * @since 0.4.0
 */
export interface Estimator {
  readonly next: (sample: Sample) => number | undefined
}

/** The share of the measured throughput to recommend after congestion (headroom to drain the queue). */
const backoff = 0.85
/** Growth per clear interval, probing whether the link carries more again. */
const probe = 1.08

/**
 * A decrease-on-congestion, gradual-increase estimator: on a congested interval it recommends 85 % of
 * what reached the server in that interval (the link's capacity then); each clear interval after that
 * it raises the recommendation by 8 %, or to what reached the server if that is more, and once it passes
 * the highest input bitrate seen (the encoder's own), the congestion is over: `undefined` again.
 *
 * @since 0.4.0
 */
export const makeEstimator = (): Estimator => {
  let estimate: number | undefined
  let highestInput = 0
  return {
    next: ({ congested, deliveredBitrate, inputBitrate }) => {
      highestInput = Math.max(highestInput, inputBitrate)
      if (congested && deliveredBitrate > 0) {
        estimate = Math.round(deliveredBitrate * backoff)
      } else if (!congested && estimate !== undefined) {
        estimate = Math.round(Math.max(estimate * probe, deliveredBitrate))
        if (estimate >= highestInput) estimate = undefined
      }
      return estimate
    }
  }
}

/**
 * The Effect metrics of publishes. Gauges hold the last snapshot's values; counters add up over the
 * process (dropped frames carry a `track` attribute besides the publish's own).
 *
 * @since 0.4.0
 */
export const metrics = {
  bitrate: Metric.gauge("rtmp_publish_bitrate", { description: "Bits per second written to the connection" }),
  fps: Metric.gauge("rtmp_publish_fps", { description: "Video frames per second written" }),
  queueBytes: Metric.gauge("rtmp_publish_queue_bytes", { description: "Payload bytes waiting in the send queue" }),
  queueAge: Metric.gauge("rtmp_publish_queue_age_ms", { description: "How long the oldest queued frame has waited" }),
  rtt: Metric.gauge("rtmp_publish_rtt_ms", { description: "Round trip time from Ping Request to Ping Response" }),
  recommendedBitrate: Metric.gauge("rtmp_publish_recommended_bitrate", {
    description: "Bitrate the connection carries after congestion (0: no recommendation)"
  }),
  bytesAcknowledged: Metric.counter("rtmp_publish_bytes_acknowledged", {
    description: "Bytes the server acknowledged receiving"
  }),
  droppedFrames: Metric.counter("rtmp_publish_dropped_frames", {
    description: "Frames dropped because the connection could not keep up"
  })
} as const

/**
 * Updates the metrics with a snapshot; `previous` (the snapshot before it) turns the cumulative counts
 * into the counters' increments.
 *
 * @since 0.4.0
 */
export const record = (
  snapshot: Snapshot,
  previous: Snapshot | undefined,
  attributes: Readonly<Record<string, string>> = {}
): Effect.Effect<void> => {
  const tagged = <In, Out>(metric: Metric.Metric<In, Out>) => Metric.withAttributes(metric, attributes)
  return Effect.all([
    Metric.update(tagged(metrics.bitrate), snapshot.bitrate),
    Metric.update(tagged(metrics.fps), snapshot.fps),
    Metric.update(tagged(metrics.queueBytes), snapshot.queue.bytes),
    Metric.update(tagged(metrics.queueAge), snapshot.queue.ageMs),
    Metric.update(tagged(metrics.recommendedBitrate), snapshot.recommendedBitrate ?? 0),
    ...(snapshot.rttMs === undefined ? [] : [Metric.update(tagged(metrics.rtt), snapshot.rttMs)]),
    Metric.update(tagged(metrics.bytesAcknowledged), snapshot.bytesAcknowledged - (previous?.bytesAcknowledged ?? 0)),
    ...Object.entries(snapshot.droppedFrames).flatMap(([track, count]) => {
      const increment = count - (previous?.droppedFrames[track] ?? 0)
      return increment > 0
        ? [Metric.update(Metric.withAttributes(metrics.droppedFrames, { ...attributes, track }), increment)]
        : []
    })
  ], { discard: true })
}
