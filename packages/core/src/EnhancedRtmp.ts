/**
 * Enhanced RTMP (E-RTMP, veovera/enhanced-rtmp, v2 and v1): the values of the extended FLV audio and video
 * tag headers, in the spec's own words, and the FourCC of each codec.
 *
 * An Enhanced RTMP video body starts with `isExVideoHeader (1 bit) | VideoFrameType (3 bits) |
 * VideoPacketType (4 bits)`; an audio body with `SoundFormat 9 (ExHeader, 4 bits) | AudioPacketType (4
 * bits)`. Then come, in this order:
 *
 * 1. ModEx packets while the packet type is `ModEx`: `UI8 size - 1` (`UI16 size - 1` after 0xFF), the
 *    data, then `PacketModExType (4 bits) | packet type (4 bits)`; `TimestampOffsetNano` holds a UI24 of
 *    nanoseconds to add to the message timestamp;
 * 2. if the packet type is `Multitrack`: `AvMultitrackType (4 bits) | packet type (4 bits)`, one packet
 *    type for every track of the message;
 * 3. the codec FourCC, unless the message is `ManyTracksManyCodecs`;
 * 4. per track (one track without multitrack): the FourCC (`ManyTracksManyCodecs` only), the track id
 *    (UI8, multitrack only), the size of the rest of the track (UI24, `ManyTracks*` only), and the track
 *    body: for `CodedFrames` of `avc1`/`hvc1`/`vvc1` a SI24 composition time offset, then the data.
 *
 * `FlvMuxer` writes these bodies and `FlvDemuxer` reads them; both use `MediaFrame` codec names
 * (`hevc`, `av1`, `opus`, ...), which {@link videoFourCc} and {@link audioFourCc} map to FourCCs.
 *
 * @since 0.1.0
 */
import type { AudioCodec, VideoCodec } from "./MediaFrame.ts"

/**
 * Bit 7 of the first byte of a video body: set, the body has an ExVideoTagHeader (the low 4 bits are a
 * {@link VideoPacketType}, not a legacy CodecID).
 *
 * @since 0.1.0
 */
export const IsExVideoHeader = 0x80

/**
 * The SoundFormat (upper 4 bits of the first byte of an audio body) that signals an ExAudioTagHeader (the
 * low 4 bits are then an {@link AudioPacketType}).
 *
 * @since 0.1.0
 */
export const ExHeaderSoundFormat = 9

/**
 * VideoFrameType (3 bits in an ExVideoTagHeader, 4 in a legacy one).
 *
 * @since 0.1.0
 */
export const VideoFrameType = {
  KeyFrame: 1,
  InterFrame: 2,
  DisposableInterFrame: 3,
  GeneratedKeyFrame: 4,
  /** A video info/command frame: a UI8 VideoCommand follows the header, no video data (except Metadata). */
  Command: 5
} as const

/**
 * VideoPacketType (low 4 bits of an ExVideoTagHeader).
 *
 * @since 0.1.0
 */
export const VideoPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  /** CodedFrames whose composition time offset is 0, without the SI24 field. */
  CodedFramesX: 3,
  Metadata: 4,
  MPEG2TSSequenceStart: 5,
  Multitrack: 6,
  ModEx: 7
} as const

/**
 * AudioPacketType (low 4 bits of an ExAudioTagHeader).
 *
 * @since 0.1.0
 */
export const AudioPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  MultichannelConfig: 4,
  Multitrack: 5,
  ModEx: 7
} as const

/**
 * AvMultitrackType (upper 4 bits of the byte after a `Multitrack` packet type), for audio and video.
 *
 * - `OneTrack`: one track, with its id;
 * - `ManyTracks`: several tracks of one codec (one FourCC), each with its id and size;
 * - `ManyTracksManyCodecs`: several tracks, each with its FourCC, id and size.
 *
 * @since 0.1.0
 */
export const AvMultitrackType = {
  OneTrack: 0,
  ManyTracks: 1,
  ManyTracksManyCodecs: 2
} as const

/**
 * An {@link AvMultitrackType} value.
 *
 * @since 0.1.0
 */
export type AvMultitrackType = typeof AvMultitrackType[keyof typeof AvMultitrackType]

/**
 * VideoPacketModExType and AudioPacketModExType (the same values): the kind of a ModEx packet.
 *
 * @since 0.1.0
 */
export const PacketModExType = {
  /** UI24 nanoseconds (0-999999) added to the message timestamp. */
  TimestampOffsetNano: 0
} as const

/**
 * AudioChannelOrder, the first byte of a MultichannelConfig body.
 *
 * @since 0.1.0
 */
export const AudioChannelOrder = {
  /** Only the channel count. */
  Unspecified: 0,
  /** A UI32 AudioChannelMask follows (bit 0 FrontLeft, 1 FrontRight, 2 FrontCenter, 3 LowFrequency1, ...). */
  Native: 1,
  /** One AudioChannel byte per channel follows, in bitstream order. */
  Custom: 2
} as const

/**
 * The Enhanced RTMP FourCC of each video codec name of `MediaFrame`.
 *
 * @since 0.1.0
 */
export const videoFourCc: Readonly<Record<VideoCodec, string>> = {
  avc: "avc1",
  hevc: "hvc1",
  vvc: "vvc1",
  av1: "av01",
  vp9: "vp09",
  vp8: "vp08"
}

/**
 * The Enhanced RTMP FourCC of each audio codec name of `MediaFrame`.
 *
 * @since 0.1.0
 */
export const audioFourCc: Readonly<Record<AudioCodec, string>> = {
  aac: "mp4a",
  opus: "Opus",
  flac: "fLaC",
  ac3: "ac-3",
  eac3: "ec-3",
  mp3: ".mp3"
}

const invert = <K extends string>(map: Readonly<Record<K, string>>): ReadonlyMap<string, K> =>
  new Map(Object.entries<string>(map).map(([codec, fourCc]) => [fourCc, codec as K]))

const videoCodecs = invert(videoFourCc)
const audioCodecs = invert(audioFourCc)

/**
 * The `MediaFrame` codec name of a video FourCC (`"hvc1"` -> `"hevc"`), `undefined` for one this library
 * does not know.
 *
 * @since 0.1.0
 */
export const videoCodecOf = (fourCc: string): VideoCodec | undefined => videoCodecs.get(fourCc)

/**
 * The `MediaFrame` codec name of an audio FourCC (`"Opus"` -> `"opus"`), `undefined` for one this library
 * does not know.
 *
 * @since 0.1.0
 */
export const audioCodecOf = (fourCc: string): AudioCodec | undefined => audioCodecs.get(fourCc)

/**
 * Whether `CodedFrames` of this video codec carry a SI24 composition time offset (`avc`, `hevc`, `vvc`),
 * and so can use `CodedFramesX` when it is 0.
 *
 * @since 0.1.0
 */
export const hasCompositionTime = (codec: string): boolean => codec === "avc" || codec === "hevc" || codec === "vvc"

/**
 * A FourCC as the number `onMetaData` uses for `videocodecid` / `audiocodecid` when a FourCC signals the
 * codec: the four ASCII bytes read as a big-endian UI32 (`"av01"` -> 1635135537).
 *
 * @since 0.1.0
 */
export const fourCcValue = (fourCc: string): number =>
  ((fourCc.charCodeAt(0) << 24) | (fourCc.charCodeAt(1) << 16) | (fourCc.charCodeAt(2) << 8) |
    fourCc.charCodeAt(3)) >>> 0
