/**
 * The replay buffer of a publish: the frames not known to have reached the server, kept so that a new
 * connection can resume without losing any.
 *
 * "Known delivered" comes from the server's Acknowledgement messages: the session asks the server to
 * acknowledge every Window Acknowledgement Size bytes, and each frame records the byte offset (on its
 * connection) at which its message ended. A frame whose bytes end at or before the acknowledged count is
 * delivered. The buffer lets go of delivered frames, but always keeps the group of pictures (GOP) the
 * first undelivered frame belongs to: a new connection resumes at that GOP's video keyframe (audio-only:
 * at the first undelivered frame), after the last `onMetaData` and the codec configuration of each
 * track (with Enhanced RTMP video metadata and audio channel layouts), so that a player or recorder on
 * the new connection can decode from its first frame. With Enhanced RTMP multitrack video, GOPs are those
 * of the default track (0). Frames
 * between the keyframe and the first undelivered one are sent twice; none is lost.
 *
 * The buffer is bounded (payload bytes, default 64 MiB). When acknowledgements do not come (a server that
 * does not send them, or a stalled one) and the bound is reached, it drops the oldest whole GOPs (a GOP
 * larger than the whole bound is dropped too: the bound is a memory limit); the media frames so dropped
 * that were not known delivered are counted and reported by the next `resume` as `dropped`: a
 * reconnection after them cannot re-send them. A live source therefore resumes from a bounded GOP cache.
 *
 * Synchronous and IO-free: the publisher drives it.
 *
 * @since 0.2.0
 */
import type { MediaFrame } from "./MediaFrame.ts"

/**
 * The default bound of a replay buffer: 64 MiB of frame payloads.
 *
 * @since 0.2.0
 */
export const defaultMaxBytes = 64 * 1024 * 1024

/**
 * A frame in the buffer, with the byte offset at which its message ended on the current connection
 * (`undefined` while it has not been written on it).
 *
 * @since 0.2.0
 */
export interface Entry {
  readonly frame: MediaFrame
  /** Where the frame's message ended in the bytes of the current connection; undefined: not written there. */
  end: number | undefined
  /** Written on some connection at least once. */
  written: boolean
}

/**
 * What to send on a new connection, in order: `headers` (metadata and codec configuration in effect at
 * the resume point; not tracked), then `entries` (tracked: mark each written with `markSent`).
 *
 * @since 0.2.0
 */
export interface Resumption {
  readonly headers: ReadonlyArray<MediaFrame>
  readonly entries: ReadonlyArray<Entry>
  /**
   * Coded frames not known delivered that the bound made the buffer drop since the previous resumption
   * (metadata and codec configuration are not counted: the headers carry them).
   */
  readonly dropped: number
}

/**
 * A replay buffer (see the module documentation).
 *
 * @since 0.2.0
 */
export interface ReplayBuffer {
  /** Adds a frame taken from the source, before it is written; drops the oldest GOPs if over the bound. */
  readonly push: (frame: MediaFrame) => Entry
  /** Records that the entry's message ended at byte `end` of the current connection. */
  readonly markSent: (entry: Entry, end: number) => void
  /**
   * Takes the count of bytes of the current connection the server acknowledged (a lower bound: see
   * `Acknowledgements`), and lets go of what is delivered, up to the GOP of the first undelivered frame.
   */
  readonly acknowledge: (bytes: number) => void
  /**
   * Starts a new connection: returns what to send on it, and forgets the byte offsets of the previous
   * one (its acknowledgements no longer apply).
   */
  readonly resume: () => Resumption
  /** Frames held. */
  readonly length: () => number
  /** Payload bytes held. */
  readonly bytes: () => number
}

/** A coded frame of the default video track (Enhanced RTMP multitrack: track 0) that starts a GOP. */
const isVideoKeyframe = (frame: MediaFrame): boolean =>
  frame.kind === "video" && frame.keyframe && isCoded(frame) && (frame.track ?? 0) === 0

/** A coded frame, as opposed to configuration and signalling (sequence headers, metadata, end of sequence). */
const isCoded = (frame: MediaFrame): boolean =>
  !frame.config && frame.metadata !== true && frame.multichannelConfig !== true && frame.endOfSequence !== true &&
  frame.kind !== "data"

/**
 * What a decoder needs before the first frame of a track, by track: the codec configuration, Enhanced
 * RTMP video metadata (HDR colour information) and audio channel layout. Undefined for other frames.
 */
const headerKey = (frame: MediaFrame): string | undefined => {
  const kind = frame.config ? "config" : frame.metadata === true ? "metadata" : frame.multichannelConfig === true ? "channels" : undefined
  return kind === undefined || frame.kind === "data" ? undefined : `${frame.kind}:${frame.track ?? 0}:${kind}`
}

/** `02 00 0A "onMetaData"`: the AMF0 string that starts an onMetaData script body. */
const onMetaData = Uint8Array.of(0x02, 0x00, 0x0a, ...Array.from("onMetaData", (c) => c.charCodeAt(0)))
/** The same, after `02 00 0D "@setDataFrame"`. */
const setDataFrameLength = 3 + "@setDataFrame".length

const startsWithAt = (bytes: Uint8Array, prefix: Uint8Array, at: number): boolean => {
  if (bytes.length < at + prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false
  return true
}

/**
 * Whether a frame is the stream's `onMetaData` (as an FLV script tag body, or already wrapped in
 * `@setDataFrame`).
 *
 * @since 0.2.0
 */
export const isMetadata = (frame: MediaFrame): boolean =>
  frame.kind === "data" &&
  (startsWithAt(frame.payload, onMetaData, 0) ||
    (frame.payload[0] === 0x02 && frame.payload[2] === 0x0d && startsWithAt(frame.payload, onMetaData, setDataFrameLength)))

/**
 * Makes an empty replay buffer bounded to `maxBytes` of frame payloads (default 64 MiB).
 *
 * `retainGop: false` (live publishes) lets go of every delivered frame, also inside the GOP of the first
 * undelivered one, and `resume` returns the undelivered frames from the first one: a live publish does
 * not go back to an old keyframe after an outage (it resumes at the newest one, see `Publisher`), so it
 * need not hold a GOP (seconds of video) per stream. Default true.
 *
 * @since 0.2.0
 */
export const make = (
  options: { readonly maxBytes?: number | undefined; readonly retainGop?: boolean | undefined } = {}
): ReplayBuffer => {
  const maxBytes = Math.max(0, options.maxBytes ?? defaultMaxBytes)
  const retainGop = options.retainGop ?? true
  let entries: Array<Entry> = []
  let held = 0
  /** Bytes acknowledged on the current connection. */
  let acked = 0
  let sawVideo = false
  /** The onMetaData and the headers of each track (see `headerKey`) in effect before the first entry. */
  let metadata: MediaFrame | undefined
  const headers = new Map<string, MediaFrame>()
  /** Groups of undelivered frames dropped by the bound on the current connection: where they ended, how many. */
  let evicted: Array<{ end: number | undefined; frames: number }> = []

  const delivered = (entry: Entry) => entry.end !== undefined && entry.end <= acked

  /** Keeps the metadata and codec configuration of frames leaving the front. */
  const remember = (frame: MediaFrame) => {
    if (isMetadata(frame)) {
      metadata = frame
      return
    }
    const key = headerKey(frame)
    if (key !== undefined) headers.set(key, frame)
  }

  /**
   * Removes the first `n` entries; returns how many of them were undelivered media frames (metadata and
   * codec configuration are re-sent as headers: never lost) and where the last undelivered one ended.
   */
  const removeFront = (n: number) => {
    let undelivered = 0
    let end: number | undefined = 0
    for (let i = 0; i < n; i++) {
      const entry = entries[i]!
      remember(entry.frame)
      held -= entry.frame.payload.length
      if (!delivered(entry) && isCoded(entry.frame)) {
        undelivered++
        end = end === undefined || entry.end === undefined ? undefined : Math.max(end, entry.end)
      }
    }
    entries = n === entries.length ? [] : entries.slice(n)
    return { undelivered, end }
  }

  /** Where a new connection starts: the keyframe of the first undelivered frame's GOP. */
  const resumeIndex = (): number => {
    let first = 0
    while (first < entries.length && delivered(entries[first]!)) first++
    if (!sawVideo || !retainGop) return first
    for (let i = Math.min(first, entries.length - 1); i >= 0; i--) {
      if (isVideoKeyframe(entries[i]!.frame)) return i
    }
    return 0
  }

  /** Drops the oldest GOP (up to the next video keyframe; audio-only: one frame). */
  const evictOldest = () => {
    let n = 1
    while (n < entries.length && !isVideoKeyframe(entries[n]!.frame)) {
      if (!sawVideo) break
      n++
    }
    const { end, undelivered } = removeFront(n)
    if (undelivered > 0) evicted.push({ end, frames: undelivered })
  }

  return {
    push: (frame) => {
      if (frame.kind === "video" && isCoded(frame)) sawVideo = true
      const size = frame.payload.length
      while (entries.length > 0 && held + size > maxBytes) evictOldest()
      const entry: Entry = { frame, end: undefined, written: false }
      entries.push(entry)
      held += size
      return entry
    },
    markSent: (entry, end) => {
      entry.end = end
      entry.written = true
    },
    acknowledge: (bytes) => {
      if (bytes <= acked) return
      acked = bytes
      const k = resumeIndex()
      if (k > 0) removeFront(k)
      if (evicted.length > 0) evicted = evicted.filter((group) => group.end === undefined || group.end > acked)
    },
    resume: () => {
      const k = resumeIndex()
      if (k > 0) removeFront(k)
      const tracks = [...headers.values()]
      const resent = [
        ...(metadata === undefined ? [] : [metadata]),
        ...tracks.filter((frame) => frame.kind === "video"),
        ...tracks.filter((frame) => frame.kind === "audio")
      ]
      const dropped = evicted.reduce((sum, group) => sum + group.frames, 0)
      evicted = []
      acked = 0
      for (const entry of entries) entry.end = undefined
      return { headers: resent, entries: [...entries], dropped }
    },
    length: () => entries.length,
    bytes: () => held
  }
}
