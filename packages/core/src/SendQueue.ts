/**
 * The send queue of a publish: the frames read from the source and not yet handed to the connection.
 *
 * It is bounded in payload bytes and, for live sources, in media duration (the span of timestamps it
 * holds). What happens at the bound is the queue's policy:
 *
 * - `"wait"` (files, anything that can wait): the source is not read while the queue is full
 *   (backpressure); nothing is ever dropped;
 * - `"drop"` (live sources, which cannot wait): the queue drops video the way a viewer notices least:
 *   1. over its byte bound, or holding more than `maxDurationMs` of media: the inter frames (non-key
 *      video) of the oldest group of pictures (GOP) first, then of the next GOP, and so on, while it is
 *      over. What remains of each GOP is its keyframe, so every GOP still decodes (a frozen picture, never
 *      a broken one). When the GOP still being received loses its inter frames, the ones that follow
 *      are dropped on arrival up to the next keyframe of that track. So, as in OBS, a congested link
 *      carries audio and keyframes until the queue has drained below its duration bound (dropping does not
 *      shorten the queued media time: its oldest frames, often audio, still wait);
 *   2. over its byte bound, or holding more than twice `maxDurationMs`: whole keyframe-only GOPs too,
 *      oldest first (their inter frames are gone already);
 *   3. never audio, codec configuration (sequence headers), metadata, end of sequence or data frames:
 *      a queue of audio alone may stay above its bounds (its growth is bounded by the write timeout).
 *
 * Groups of pictures are per video track (Enhanced RTMP multitrack). Drops are counted per track
 * (`dropped`, keys like `"video:0"`). Synchronous and IO-free: the publisher drives it.
 *
 * @since 0.4.0
 */
import type { MediaFrame } from "./MediaFrame.ts"

/**
 * What the queue does at its bounds: wait for room (backpressure) or drop video.
 *
 * @since 0.4.0
 */
export type Policy = "wait" | "drop"

/**
 * Options of a send queue.
 *
 * @since 0.4.0
 */
export interface Options {
  readonly policy: Policy
  /** Bound in bytes of frame payloads. Default 8 MiB (`defaultMaxBytes`). */
  readonly maxBytes?: number | undefined
  /** Bound in milliseconds of media (the span of the queued timestamps), policy `"drop"` only. Default 1000. */
  readonly maxDurationMs?: number | undefined
}

/**
 * The default byte bound: 8 MiB of payloads.
 *
 * @since 0.4.0
 */
export const defaultMaxBytes = 8 * 1024 * 1024

/**
 * The default duration bound of a live queue: 1 s of media.
 *
 * @since 0.4.0
 */
export const defaultMaxDurationMs = 1000

/**
 * A send queue (see the module documentation).
 *
 * @since 0.4.0
 */
export interface SendQueue {
  readonly policy: Policy
  /**
   * Appends a frame that arrived at `now` (ms, any clock: only used for `oldestAt`); with policy `"drop"`,
   * drops at once what the bounds require, possibly the frame itself.
   */
  readonly push: (frame: MediaFrame, now: number) => void
  /** The oldest frames, at least one if any is queued, and more while their payloads fit in `maxBytes`. */
  readonly take: (maxBytes: number) => Array<MediaFrame>
  /** Whether the queue is at or over its byte bound (policy `"wait"`: the source should wait). */
  readonly full: () => boolean
  /** Frames queued. */
  readonly frames: () => number
  /** Payload bytes queued. */
  readonly bytes: () => number
  /** Milliseconds of media queued: the newest decode timestamp minus the oldest (0 when fewer than 2). */
  readonly durationMs: () => number
  /** When the oldest queued frame arrived (the `now` of its `push`), `undefined` when empty. */
  readonly oldestAt: () => number | undefined
  /** Frames dropped so far, per track: `"video:0"`, `"audio:1"`, ... (only tracks that lost frames). */
  readonly dropped: () => Readonly<Record<string, number>>
  /** Payload bytes pushed so far (dropped or not): what the source produced. */
  readonly bytesIn: () => number
  /**
   * After an outage (a new connection, live sources): drops the audio and video frames queued before the
   * newest keyframe of the default video track (audio only: those more than the duration bound older
   * than the newest frame), so that the stream resumes close to live rather than with the outage's
   * backlog of audio. Codec configurations, metadata and data frames stay. Counted in `dropped`.
   */
  readonly skipStale: () => void
  /** Whether a keyframe of the default video track is queued. */
  readonly hasKeyframe: () => boolean
  /**
   * Drops the queued inter frames of each video track up to its first queued keyframe, and for the
   * default track, when none is queued, those that arrive up to its next keyframe: for a new connection,
   * which must start each track at a keyframe. Counted in `dropped`.
   */
  readonly dropUntilKeyframe: () => void
}

interface Entry {
  readonly frame: MediaFrame
  readonly at: number
}

const trackKey = (frame: MediaFrame): string => `${frame.kind}:${frame.track ?? 0}`

/** A coded video frame: the only kind of frame the queue may drop. */
const isCodedVideo = (frame: MediaFrame): boolean =>
  frame.kind === "video" && !frame.config && frame.endOfSequence !== true && frame.metadata !== true

/** A coded audio frame (not a configuration or channel layout). */
const isCodedAudio = (frame: MediaFrame): boolean =>
  frame.kind === "audio" && !frame.config && frame.multichannelConfig !== true

/**
 * Makes an empty send queue.
 *
 * @since 0.4.0
 */
export const make = (options: Options): SendQueue => {
  const maxBytes = options.maxBytes ?? defaultMaxBytes
  const maxDurationMs = options.maxDurationMs ?? defaultMaxDurationMs
  let entries: Array<Entry> = []
  let bytes = 0
  let bytesIn = 0
  const dropped: Record<string, number> = {}
  /** Video tracks whose current GOP lost inter frames: the rest of it is dropped on arrival. */
  const broken = new Set<string>()

  const count = (frame: MediaFrame) => {
    const key = trackKey(frame)
    dropped[key] = (dropped[key] ?? 0) + 1
  }
  const durationMs = () => entries.length < 2 ? 0 : Math.max(0, entries[entries.length - 1]!.frame.dts - entries[0]!.frame.dts)
  /** Over the bound at which inter frames (level 1) or keyframes too (level 2) are dropped. */
  const over = (level: 1 | 2) => bytes > maxBytes || durationMs() > maxDurationMs * level
  /** Drops the queued frames `doomed` selects, counting them; a track whose newest GOP lost frames is broken. */
  const dropWhere = (doomed: (entry: Entry, index: number) => boolean) => {
    const kept: Array<Entry> = []
    entries.forEach((entry, index) => {
      if (!doomed(entry, index)) return void kept.push(entry)
      bytes -= entry.frame.payload.length
      count(entry.frame)
      if (!entries.some((later, j) => j > index && isCodedVideo(later.frame) && later.frame.keyframe && trackKey(later.frame) === trackKey(entry.frame))) {
        broken.add(trackKey(entry.frame))
      }
    })
    entries = kept
  }
  /** Index of the oldest queued inter frame, whose GOP (its track, up to the next keyframe) goes first. */
  const dropOldestInterFrames = (): boolean => {
    const first = entries.findIndex((entry) => isCodedVideo(entry.frame) && !entry.frame.keyframe)
    if (first < 0) return false
    const key = trackKey(entries[first]!.frame)
    let end = entries.length
    for (let i = first + 1; i < entries.length; i++) {
      const frame = entries[i]!.frame
      if (isCodedVideo(frame) && frame.keyframe && trackKey(frame) === key) {
        end = i
        break
      }
    }
    dropWhere((entry, i) => i >= first && i < end && isCodedVideo(entry.frame) && trackKey(entry.frame) === key)
    return true
  }
  const dropOldestKeyframe = (): boolean => {
    const first = entries.findIndex((entry) => isCodedVideo(entry.frame))
    if (first < 0) return false
    dropWhere((_, i) => i === first)
    return true
  }

  const skipStale = () => {
    let newestKeyframe = -1
    entries.forEach((entry, i) => {
      const frame = entry.frame
      if (isCodedVideo(frame) && frame.keyframe && (frame.track ?? 0) === 0) newestKeyframe = i
    })
    const newest = entries.at(-1)?.frame.dts ?? 0
    const stale = (entry: Entry, i: number) =>
      newestKeyframe >= 0
        ? i < newestKeyframe && (isCodedVideo(entry.frame) || isCodedAudio(entry.frame))
        : isCodedAudio(entry.frame) && newest - entry.frame.dts > maxDurationMs
    dropWhere(stale)
  }

  return {
    policy: options.policy,
    skipStale,
    hasKeyframe: () => entries.some((entry) => isCodedVideo(entry.frame) && entry.frame.keyframe && (entry.frame.track ?? 0) === 0),
    dropUntilKeyframe: () => {
      /** Tracks whose keyframe is queued: what follows it stays. */
      const started = new Set<string>()
      dropWhere((entry) => {
        if (!isCodedVideo(entry.frame)) return false
        if (entry.frame.keyframe) started.add(trackKey(entry.frame))
        return !started.has(trackKey(entry.frame))
      })
      if (!started.has("video:0")) broken.add("video:0")
    },
    push: (frame, now) => {
      bytesIn += frame.payload.length
      if (options.policy === "drop" && isCodedVideo(frame)) {
        const key = trackKey(frame)
        if (frame.keyframe) broken.delete(key)
        else if (broken.has(key)) return count(frame)
      }
      entries.push({ frame, at: now })
      bytes += frame.payload.length
      if (options.policy !== "drop") return
      while (over(1) && dropOldestInterFrames()) {
        // one GOP's inter frames per round
      }
      while (over(2) && dropOldestKeyframe()) {
        // one keyframe-only GOP per round
      }
    },
    take: (limit) => {
      let n = 0
      let size = 0
      while (n < entries.length && (n === 0 || size + entries[n]!.frame.payload.length <= limit)) {
        size += entries[n]!.frame.payload.length
        n += 1
      }
      const taken = entries.splice(0, n)
      bytes -= size
      return taken.map((entry) => entry.frame)
    },
    full: () => bytes >= maxBytes,
    frames: () => entries.length,
    bytes: () => bytes,
    durationMs,
    oldestAt: () => entries[0]?.at,
    dropped: () => ({ ...dropped }),
    bytesIn: () => bytesIn
  }
}
