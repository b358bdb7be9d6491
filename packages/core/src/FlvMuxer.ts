/**
 * FLV muxing for RTMP: a `MediaFrame` to the RTMP message that carries it, whose body is an FLV tag body
 * (RTMP audio/video/data messages are FLV tag bodies without the tag header): a legacy one for the codecs
 * legacy FLV knows (H.264/AVC, AAC, MP3, ...), an Enhanced RTMP one (ExVideoTagHeader / ExAudioTagHeader,
 * see `EnhancedRtmp`) for the others (HEVC, AV1, VP9, Opus, FLAC, AC-3, E-AC-3, ...), for tracks other
 * than 0 (multitrack) and for the Enhanced RTMP signals (metadata, channel layout, nanosecond offsets).
 * The header bytes go in pieces of their own beside the payload: the media payload is never copied.
 *
 * For frames read by `FlvDemuxer` the bodies are byte-identical to the file's tag bodies, except that
 * `onMetaData` goes out as `@setDataFrame("onMetaData", ...)`, the form servers store and replay to players,
 * and the few Enhanced RTMP forms that say the same thing in other bytes than FFmpeg writes (see
 * `toMessage`).
 *
 * @since 0.1.0
 */
import * as EnhancedRtmp from "./EnhancedRtmp.ts"
import * as ExTagWriter from "./internal/exTagWriter.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import { MessageType, type RtmpMessage } from "./Message.ts"

const amf0String = (s: string): Uint8Array => {
  const bytes = new TextEncoder().encode(s)
  const out = new Uint8Array(3 + bytes.length)
  out[0] = 0x02
  out[1] = bytes.length >> 8
  out[2] = bytes.length & 0xff
  out.set(bytes, 3)
  return out
}

/** AMF0 string `"@setDataFrame"`: `02 00 0d "@setDataFrame"`. */
const setDataFrame = amf0String("@setDataFrame")
/** AMF0 string `"onMetaData"`: `02 00 0a "onMetaData"`. */
const onMetaData = amf0String("onMetaData")

const startsWith = (bytes: Uint8Array, prefix: Uint8Array): boolean => {
  if (bytes.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false
  return true
}

/** Legacy FLV SoundFormat of each codec name `FlvDemuxer` produces, for frames without `audioFlags`. */
const soundFormats: Readonly<Record<string, number>> = {
  pcm: 0,
  adpcm: 1,
  mp3: 2,
  pcm_le: 3,
  nellymoser_16k: 4,
  nellymoser_8k: 5,
  nellymoser: 6,
  g711a: 7,
  g711u: 8,
  aac: 10,
  speex: 11,
  mp3_8k: 14,
  device: 15
}

/** Audio header pieces are one or two bytes from a small set: made once, shared by every message. */
const audioHeaders1 = new Map<number, Uint8Array>()
const audioHeaders2 = new Map<number, Uint8Array>()
const audioHeader1 = (flags: number): Uint8Array => {
  let header = audioHeaders1.get(flags)
  if (header === undefined) audioHeaders1.set(flags, header = Uint8Array.of(flags))
  return header
}
const audioHeader2 = (flags: number, packetType: number): Uint8Array => {
  const key = (flags << 8) | packetType
  let header = audioHeaders2.get(key)
  if (header === undefined) audioHeaders2.set(key, header = Uint8Array.of(flags, packetType))
  return header
}

/**
 * The default audio header byte for a codec: SoundRate 44 kHz (3), 16-bit samples, stereo, which is what
 * AAC requires (`0xAF`) and a neutral choice for the others. Frames read from FLV keep their own byte.
 */
const defaultAudioFlags = (codec: string): number => {
  const format = soundFormats[codec]
  if (format === undefined) {
    throw new Error(
      `FlvMuxer: audio codec "${codec}" has neither a legacy FLV SoundFormat nor an Enhanced RTMP FourCC; ` +
        `give audioFlags`
    )
  }
  return (format << 4) | 0x0f
}


/**
 * Options of {@link toMessage}.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * Send `avc`, `aac` and `mp3` frames of track 0 with the Enhanced RTMP header too (FourCC `avc1`, `mp4a`,
   * `.mp3`) instead of the legacy FLV body. Default false: legacy bodies, which every server reads. Frames
   * of other tracks, and frames that need an Enhanced RTMP signal, always get the Enhanced RTMP header.
   */
  readonly exHeaderForLegacyCodecs?: boolean | undefined
}

/** Whether a frame needs the Enhanced RTMP header whatever its codec. */
const needsExHeader = (frame: MediaFrame): boolean =>
  (frame.track !== undefined && frame.track !== 0) || frame.timestampOffsetNano !== undefined ||
  frame.metadata === true || frame.multichannelConfig === true

const hasAudioFourCc = (codec: string): boolean => Object.hasOwn(EnhancedRtmp.audioFourCc, codec)

const enhanced = (frame: MediaFrame, streamId: number): RtmpMessage => {
  const track = frame.track ?? 0
  const multitrack = track === 0 ? undefined : EnhancedRtmp.AvMultitrackType.OneTrack
  return {
    typeId: frame.kind === "video" ? MessageType.Video : MessageType.Audio,
    streamId,
    timestamp: frame.dts,
    payload: ExTagWriter.body([frame], multitrack)
  }
}

/**
 * The RTMP message for a media frame, sent on message stream `streamId` with `timestamp = dts`.
 *
 * Legacy FLV bodies, byte for byte what FLV files hold:
 *
 * - video `avc` (type 9): `[FrameType << 4 | 7, AVCPacketType, CompositionTime (SI24)]` + payload; FrameType
 *   is 1 (key) for keyframes, config records and the end of sequence, else 2; AVCPacketType 0 for config,
 *   2 for `endOfSequence`, else 1;
 * - audio `aac` (type 8): `[audioFlags ?? 0xAF, AACPacketType]` + payload; other legacy audio (`mp3`, ...):
 *   `[audioFlags]` + payload (the flags derived from the codec when absent);
 * - data (type 18): the AMF0 body, prefixed with `"@setDataFrame"` when it starts with `"onMetaData"`.
 *
 * Enhanced RTMP bodies (see `EnhancedRtmp`), for the codecs legacy FLV cannot carry (`hevc`, `av1`, `vp9`,
 * `vp8`, `vvc`, `opus`, `flac`, `ac3`, `eac3`), for frames of a track other than 0 (a OneTrack multitrack
 * message, as FFmpeg sends them), for the `metadata`, `multichannelConfig` and `timestampOffsetNano`
 * signals, and for `avc`/`aac`/`mp3` when `options.exHeaderForLegacyCodecs`:
 *
 * - video: `[0x80 | FrameType << 4 | VideoPacketType, FourCC]`: SequenceStart (config), SequenceEnd
 *   (`endOfSequence`), Metadata (FrameType 5), CodedFrames + SI24 composition time for `hevc`/`avc`/`vvc`
 *   with cts != 0, CodedFramesX for them with cts 0, CodedFrames for `av1`/`vp9`/`vp8`;
 * - audio: `[0x90 | AudioPacketType, FourCC]`: SequenceStart, CodedFrames, SequenceEnd, MultichannelConfig;
 * - a ModEx TimestampOffsetNano before them when `timestampOffsetNano` is given.
 *
 * FFmpeg writes the same bytes. Re-muxing what `FlvDemuxer` read gives the tag bodies back, except for
 * forms that mean the same with other bytes: CodedFrames with a zero composition time (sent as
 * CodedFramesX), a Metadata frame type other than 5, Enhanced `avc1`/`mp4a`/`.mp3` on track 0 (sent legacy
 * unless asked), a OneTrack message of track 0 (sent without the multitrack header; `toMultitrackMessage`
 * keeps it).
 *
 * Use it on every frame between `publish` and the end of the stream, in order; frames of several tracks
 * sharing a timestamp may instead share one message: {@link toMultitrackMessage}. A frame no body can
 * carry (a codec unknown to both FLV and Enhanced RTMP without `audioFlags`, a legacy-only audio codec on a
 * track other than 0, cts on `av1`, ...) is a programming error and throws: demuxers reject such input
 * earlier, as `InvalidMedia`.
 *
 * @since 0.1.0
 */
export const toMessage = (frame: MediaFrame, streamId: number, options?: Options): RtmpMessage => {
  switch (frame.kind) {
    case "video": {
      if (frame.codec !== "avc" || needsExHeader(frame) || options?.exHeaderForLegacyCodecs === true) {
        return enhanced(frame, streamId)
      }
      const header = new Uint8Array(5)
      header[0] = ((frame.keyframe || frame.config || frame.endOfSequence === true ? 1 : 2) << 4) | 7
      header[1] = frame.config ? 0 : frame.endOfSequence === true ? 2 : 1
      const cts = frame.cts
      header[2] = (cts >> 16) & 0xff
      header[3] = (cts >> 8) & 0xff
      header[4] = cts & 0xff
      return { typeId: MessageType.Video, streamId, timestamp: frame.dts, payload: [header, frame.payload] }
    }
    case "audio": {
      const legacy = Object.hasOwn(soundFormats, frame.codec)
      if (hasAudioFourCc(frame.codec)) {
        const exHeader = !legacy || needsExHeader(frame) || frame.endOfSequence === true ||
          options?.exHeaderForLegacyCodecs === true
        if (exHeader) {
          return enhanced(frame, streamId)
        }
      } else if (needsExHeader(frame) || frame.endOfSequence === true) {
        throw new Error(
          `FlvMuxer: audio codec "${frame.codec}" has no Enhanced RTMP FourCC: it cannot go on track ` +
            `${frame.track ?? 0} nor carry Enhanced RTMP signals`
        )
      }
      const header = frame.codec === "aac"
        ? audioHeader2(frame.audioFlags ?? 0xaf, frame.config ? 0 : 1)
        : audioHeader1(frame.audioFlags ?? defaultAudioFlags(frame.codec))
      return { typeId: MessageType.Audio, streamId, timestamp: frame.dts, payload: [header, frame.payload] }
    }
    case "data": {
      const payload = startsWith(frame.payload, onMetaData) ? [setDataFrame, frame.payload] : frame.payload
      return { typeId: MessageType.DataAmf0, streamId, timestamp: frame.dts, payload }
    }
  }
}

/**
 * Options of {@link toMultitrackMessage}.
 *
 * @since 0.1.0
 */
export interface MultitrackOptions {
  /**
   * The AvMultitrackType to write. Default: `OneTrack` for one frame, `ManyTracks` for several frames of
   * one codec, `ManyTracksManyCodecs` for several codecs.
   */
  readonly multitrackType?: EnhancedRtmp.AvMultitrackType | undefined
}

/**
 * One Enhanced RTMP multitrack message (type 9 or 8, `timestamp = dts`) carrying frames of several tracks
 * (or one) that share kind, timestamp, packet type (all coded frames, all config records, ...), video
 * frame type (all keyframes or none) and `timestampOffsetNano`, with distinct `track` ids (0 included):
 *
 * - `OneTrack`: `[header, FourCC, trackId (UI8)]` + payload;
 * - `ManyTracks`: `[header, FourCC]`, then per track `[trackId, size (UI24)]` + payload;
 * - `ManyTracksManyCodecs`: `[header]`, then per track `[FourCC, trackId, size (UI24)]` + payload.
 *
 * where header is `[0x80 | FrameType << 4 | 6, AvMultitrackType << 4 | VideoPacketType]` for video and
 * `[0x95, AvMultitrackType << 4 | AudioPacketType]` for audio (preceded by the ModEx of
 * `timestampOffsetNano`), and each `avc`/`hevc`/`vvc` track body of a CodedFrames message starts with its
 * SI24 composition time (the message is CodedFramesX when every track is such a codec with cts 0). Legacy
 * codecs go by their FourCC (`avc1`, `mp4a`, `.mp3`).
 *
 * Use it to send the renditions of one instant together (an ABR ladder, several languages) in one
 * message; `toMessage` sends each frame of a track other than 0 alone (OneTrack), which is equivalent.
 * Frames that cannot share a message throw (a programming error).
 *
 * @since 0.1.0
 */
export const toMultitrackMessage = (
  frames: readonly [MediaFrame, ...Array<MediaFrame>],
  streamId: number,
  options?: MultitrackOptions
): RtmpMessage => {
  const first = frames[0]
  const multitrack = options?.multitrackType ?? (frames.length === 1
    ? EnhancedRtmp.AvMultitrackType.OneTrack
    : frames.every((f) => f.codec === first.codec)
    ? EnhancedRtmp.AvMultitrackType.ManyTracks
    : EnhancedRtmp.AvMultitrackType.ManyTracksManyCodecs)
  return {
    typeId: first.kind === "video" ? MessageType.Video : MessageType.Audio,
    streamId,
    timestamp: first.dts,
    payload: ExTagWriter.body(frames, multitrack)
  }
}
