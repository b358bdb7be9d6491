/**
 * `onMetaData` for inputs that carry none (MP4, an app's own frames): the script data a publisher sends
 * before its media, which servers store and hand to players (FLV `SCRIPTDATA`, E-RTMP v2 "Enhancing
 * onMetaData"), made from the first frames of the tracks.
 *
 * - `videocodecid` / `audiocodecid`: the legacy CodecID / SoundFormat for what goes out with a legacy
 *   header (`avc` 7, `aac` 10, `mp3` 2, on track 0), else the FourCC as a number
 *   (`EnhancedRtmp.fourCcValue`: `"hvc1"` 1752589105, `"Opus"` 1332770163), as the spec says when a FourCC
 *   signals the codec;
 * - `width` / `height` when the configuration (AVC or HEVC SPS, AV1 sequence header) or the first key
 *   frame (VP9, VP8) tells them;
 * - `audiosamplerate`, `audiosamplesize`, `stereo` when the configuration (AAC AudioSpecificConfig,
 *   OpusHead, FLAC STREAMINFO) or the first frame (MP3) tells them;
 * - tracks other than 0 (Enhanced RTMP multitrack) in `videoTrackIdInfoMap` / `audioTrackIdInfoMap`,
 *   keyed by track id, each with its codec id (always a FourCC: those tracks always go with the
 *   Enhanced RTMP header) and what is known of it (`width`, `height`, `samplerate`, `channels`).
 *
 * Fields nothing tells (duration, frame rate, bit rates) are left out; add them with `extra`.
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import * as Amf0 from "./Amf0.ts"
import * as EnhancedRtmp from "./EnhancedRtmp.ts"
import * as CodecInfo from "./internal/codecInfo.ts"
import type { AudioCodec, MediaFrame, VideoCodec } from "./MediaFrame.ts"

/**
 * Options of {@link onMetaData}.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * As `FlvMuxer.Options.exHeaderForLegacyCodecs`: `avc`, `aac` and `mp3` of track 0 go with the
   * Enhanced RTMP header, so their codec ids are FourCCs too (`avc1`, `mp4a`, `.mp3`). Default false:
   * 7, 10 and 2, the legacy ids.
   */
  readonly exHeaderForLegacyCodecs?: boolean | undefined
  /** Properties added to (or replacing) the derived ones: `duration`, `framerate`, `encoder`, ... */
  readonly extra?: Readonly<Record<string, Amf0.Amf0Value>> | undefined
}

/** Legacy FLV VideoCodecID / SoundFormat of the codecs track 0 sends with a legacy header. */
const legacyIds: Readonly<Record<string, number>> = { avc: 7, aac: 10, mp3: 2 }

interface TrackFrames {
  readonly kind: "video" | "audio"
  readonly track: number
  readonly codec: string
  config?: Uint8Array | undefined
  first?: Uint8Array | undefined
}

/** The first configuration record and the first coded frame of each track, in order of appearance. */
const tracksOf = (frames: Iterable<MediaFrame>): Array<TrackFrames> => {
  const tracks: Array<TrackFrames> = []
  for (const frame of frames) {
    if (frame.kind === "data" || frame.endOfSequence === true || frame.metadata === true) continue
    if (frame.multichannelConfig === true) continue
    const track = frame.track ?? 0
    let entry = tracks.find((t) => t.kind === frame.kind && t.track === track)
    if (entry === undefined) tracks.push(entry = { kind: frame.kind, track, codec: frame.codec })
    if (frame.codec !== entry.codec) continue
    if (frame.config) entry.config ??= frame.payload
    else entry.first ??= frame.payload
  }
  return tracks
}

const codecId = (entry: TrackFrames, legacy: boolean): number | undefined => {
  if (legacy && Object.hasOwn(legacyIds, entry.codec)) return legacyIds[entry.codec]
  const fourCc = entry.kind === "video"
    ? EnhancedRtmp.videoFourCc[entry.codec as VideoCodec]
    : EnhancedRtmp.audioFourCc[entry.codec as AudioCodec]
  return fourCc === undefined ? legacyIds[entry.codec] : EnhancedRtmp.fourCcValue(fourCc)
}

const videoInfo = (entry: TrackFrames): CodecInfo.VideoInfo | undefined => {
  switch (entry.codec) {
    case "avc":
      return entry.config && CodecInfo.avcVideoInfo(entry.config)
    case "hevc":
      return entry.config && CodecInfo.hevcVideoInfo(entry.config)
    case "av1":
      return (entry.config && CodecInfo.av1VideoInfo(entry.config.subarray(4))) ??
        (entry.first && CodecInfo.av1VideoInfo(entry.first))
    case "vp9":
      return entry.first && CodecInfo.vp9VideoInfo(entry.first)
    case "vp8":
      return entry.first && CodecInfo.vp8VideoInfo(entry.first)
    default:
      return undefined
  }
}

const audioInfo = (entry: TrackFrames): CodecInfo.AudioInfo | undefined => {
  switch (entry.codec) {
    case "aac":
      return entry.config && CodecInfo.aacAudioInfo(entry.config)
    case "opus":
      return entry.config && CodecInfo.opusAudioInfo(entry.config)
    case "flac":
      return entry.config && CodecInfo.flacAudioInfo(entry.config)
    case "mp3":
      return entry.first && CodecInfo.mp3AudioInfo(entry.first)
    default:
      return undefined
  }
}

/** Adds the defined values, in order. */
const put = (out: Record<string, Amf0.Amf0Value>, entries: ReadonlyArray<readonly [string, Amf0.Amf0Value]>) => {
  for (const [key, value] of entries) if (value !== undefined) out[key] = value
}

/**
 * The `onMetaData` properties for the tracks of these frames (see the module documentation): give it the
 * first frames of the stream, at least each track's configuration record (and, for VP9, VP8 and MP3, its
 * first coded frame, where the picture size or sample rate is read).
 *
 * @since 0.1.0
 */
export const properties = (frames: Iterable<MediaFrame>, options?: Options): Amf0.Amf0EcmaArray => {
  const tracks = tracksOf(frames)
  const legacy = options?.exHeaderForLegacyCodecs !== true
  const out: Record<string, Amf0.Amf0Value> = {}
  const videoMap: Record<string, Amf0.Amf0Value> = {}
  const audioMap: Record<string, Amf0.Amf0Value> = {}
  const video = tracks.filter((t) => t.kind === "video").sort((a, b) => a.track - b.track)
  const audio = tracks.filter((t) => t.kind === "audio").sort((a, b) => a.track - b.track)
  for (const entry of video) {
    const info = videoInfo(entry)
    if (entry.track === 0) {
      put(out, [["width", info?.width], ["height", info?.height], ["videocodecid", codecId(entry, legacy)]])
    } else {
      const described: Record<string, Amf0.Amf0Value> = {}
      put(described, [["width", info?.width], ["height", info?.height], ["videocodecid", codecId(entry, false)]])
      videoMap[String(entry.track)] = described
    }
  }
  for (const entry of audio) {
    const info = audioInfo(entry)
    if (entry.track === 0) {
      put(out, [
        ["audiosamplerate", info?.sampleRate],
        ["audiosamplesize", info?.sampleSize],
        ["stereo", info?.channels === undefined ? undefined : info.channels >= 2],
        ["audiocodecid", codecId(entry, legacy)]
      ])
    } else {
      const described: Record<string, Amf0.Amf0Value> = {}
      put(described, [
        ["samplerate", info?.sampleRate],
        ["channels", info?.channels],
        ["audiocodecid", codecId(entry, false)]
      ])
      audioMap[String(entry.track)] = described
    }
  }
  if (Object.keys(videoMap).length > 0) out.videoTrackIdInfoMap = videoMap
  if (Object.keys(audioMap).length > 0) out.audioTrackIdInfoMap = audioMap
  return new Amf0.Amf0EcmaArray({ ...out, ...options?.extra })
}

/**
 * An `onMetaData` data frame (`kind: "data"`, `codec: "amf0"`, payload AMF0 `"onMetaData"` and the ECMA
 * array of {@link properties}) for the tracks of these frames, at the earliest dts among them (0 for
 * none). `FlvMuxer` sends it as `@setDataFrame("onMetaData", ...)`, the form servers keep.
 *
 * Use it when the input has no `onMetaData` of its own (MP4, an encoder's frames), before the first
 * frame: {@link ensureOnMetaData} does that on a stream.
 *
 * @since 0.1.0
 */
export const onMetaData = (frames: Iterable<MediaFrame>, options?: Options): MediaFrame => {
  const list = [...frames]
  const dts = list.length === 0 ? 0 : Math.min(...list.map((f) => f.dts))
  return {
    kind: "data",
    codec: "amf0",
    dts,
    cts: 0,
    keyframe: false,
    config: false,
    payload: Amf0.encode(["onMetaData", properties(list, options)])
  }
}

/** AMF0 `"onMetaData"` and `"@setDataFrame"`, the starts of a metadata body. */
const onMetaDataString = Amf0.encode(["onMetaData"])
const setDataFrameString = Amf0.encode(["@setDataFrame"])

const startsWith = (bytes: Uint8Array, prefix: Uint8Array): boolean =>
  bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b)

/**
 * Whether a frame is an `onMetaData` data frame (`"onMetaData", ...` or `"@setDataFrame",
 * "onMetaData", ...`).
 *
 * @since 0.1.0
 */
export const isOnMetaData = (frame: MediaFrame): boolean =>
  frame.kind === "data" &&
  (startsWith(frame.payload, onMetaDataString) ||
    (startsWith(frame.payload, setDataFrameString) &&
      startsWith(frame.payload.subarray(setDataFrameString.length), onMetaDataString)))

/** At most this many frames are held while looking at the head of a stream. */
const maxHead = 64

/**
 * Prepends an {@link onMetaData} frame to a stream of frames that does not start with one: the frames
 * up to the first coded frame of every track that appeared (at most 64) are held, described, and sent
 * after it. A stream whose first frames hold an `onMetaData` (an FLV input) goes through untouched; an
 * empty stream stays empty.
 *
 * Use it on what goes to `Publisher.publish` when the input may lack `onMetaData` (MP4):
 * `MediaSource.frames(path).pipe(Metadata.ensureOnMetaData())`.
 *
 * @since 0.1.0
 */
export const ensureOnMetaData = (options?: Options) =>
<E, R>(frames: Stream.Stream<MediaFrame, E, R>): Stream.Stream<MediaFrame, E, R> =>
  Stream.transformPull(frames, (upstream) =>
    Effect.sync(() => {
      let head: Array<MediaFrame> | undefined = []
      let ended = false
      /** Whether the held frames decide: an onMetaData seen, each track's coded frame seen, or enough held. */
      const decided = (held: ReadonlyArray<MediaFrame>): boolean => {
        if (held.some(isOnMetaData) || held.length >= maxHead) return true
        const tracks = tracksOf(held)
        return tracks.length > 0 && tracks.every((t) => t.first !== undefined)
      }
      const flush = (held: Array<MediaFrame>): Pull.Pull<Arr.NonEmptyReadonlyArray<MediaFrame>, E> => {
        head = undefined
        if (held.length === 0) return Cause.done()
        const firstMedia = held.findIndex((f) => f.kind !== "data")
        const described = held.slice(0, firstMedia === -1 ? held.length : firstMedia).some(isOnMetaData)
        const out = described || tracksOf(held).length === 0 ? held : [onMetaData(held, options), ...held]
        return Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<MediaFrame>)
      }
      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<MediaFrame>, E> = Effect.suspend(
        function loop(): Pull.Pull<Arr.NonEmptyReadonlyArray<MediaFrame>, E> {
          if (head === undefined) return ended ? Cause.done() : upstream
          const held = head
          if (ended || decided(held)) return flush(held)
          return upstream.pipe(
            Effect.map((batch) => {
              for (const frame of batch) held.push(frame)
            }),
            Pull.catchDone(() => Effect.sync(() => void (ended = true))),
            Effect.flatMap(loop)
          )
        }
      )
      return pull
    }))
