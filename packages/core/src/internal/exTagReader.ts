/**
 * Reading Enhanced RTMP tag bodies (ExVideoTagHeader / ExAudioTagHeader) into `MediaFrame`s, for the FLV
 * decoder: ModEx (TimestampOffsetNano), multitrack (OneTrack, ManyTracks, ManyTracksManyCodecs: one frame
 * per track), and the packet types of each kind. Payloads are subarrays of the tag body.
 *
 * @internal
 */
import * as EnhancedRtmp from "../EnhancedRtmp.ts"
import type { MediaFrame } from "../MediaFrame.ts"

const { AudioPacketType, AvMultitrackType, PacketModExType, VideoFrameType, VideoPacketType } = EnhancedRtmp

/** Names of the video packet types this reader rejects, for errors. */
const videoPacketTypeNames: Readonly<Record<number, string>> = { 5: "MPEG2TSSequenceStart" }

const fourCcAt = (body: Uint8Array, at: number): string =>
  String.fromCharCode(body[at]!, body[at + 1]!, body[at + 2]!, body[at + 3]!)

const printable = (fourCc: string): string => JSON.stringify(fourCc)

/** A body being read: the read position, and errors as strings (the decoder adds source and offset). */
class Reader {
  at = 0
  readonly body: Uint8Array
  readonly what: string
  constructor(body: Uint8Array, what: string) {
    this.body = body
    this.what = what
  }
  /** The reason to fail when fewer than `n` bytes are left, else undefined. */
  short(n: number, field: string): string | undefined {
    return this.at + n > this.body.length
      ? `truncated ${this.what}: ${field} needs ${n} byte(s) at body offset ${this.at}, ${
        this.body.length - this.at
      } left`
      : undefined
  }
  u8(): number {
    return this.body[this.at++]!
  }
  u24(): number {
    const b = this.body
    const v = (b[this.at]! << 16) | (b[this.at + 1]! << 8) | b[this.at + 2]!
    this.at += 3
    return v
  }
}

/**
 * Reads the ModEx packets after the first byte while the packet type is ModEx; returns the final packet
 * type and the TimestampOffsetNano, or an error. ModEx types other than TimestampOffsetNano are skipped.
 */
const readModEx = (
  r: Reader,
  packetType: number
): { readonly packetType: number; readonly nano: number | undefined } | string => {
  let nano: number | undefined
  while (packetType === VideoPacketType.ModEx) {
    const e1 = r.short(1, "ModEx size")
    if (e1 !== undefined) return e1
    let size = r.u8() + 1
    if (size === 256) {
      const e2 = r.short(2, "ModEx UI16 size")
      if (e2 !== undefined) return e2
      size = ((r.body[r.at]! << 8) | r.body[r.at + 1]!) + 1
      r.at += 2
    }
    const e3 = r.short(size + 1, "ModEx data and type")
    if (e3 !== undefined) return e3
    const data = r.at
    r.at += size
    const types = r.u8()
    packetType = types & 0x0f
    if (types >> 4 === PacketModExType.TimestampOffsetNano) {
      if (size < 3) return `ModEx TimestampOffsetNano of ${size} byte(s), fewer than 3`
      const b = r.body
      nano = (b[data]! << 16) | (b[data + 1]! << 8) | b[data + 2]!
    }
  }
  return { packetType, nano }
}

/** The multitrack layout of a message: the type, and where each track starts. */
interface Layout {
  readonly multitrack: EnhancedRtmp.AvMultitrackType | undefined
  readonly packetType: number
  /** The FourCC shared by every track (undefined for ManyTracksManyCodecs). */
  readonly fourCc: string | undefined
}

/** Reads the multitrack byte (when `packetType` is `multitrackPacketType`) and the shared FourCC. */
const readLayout = (r: Reader, packetType: number, multitrackPacketType: number): Layout | string => {
  let multitrack: EnhancedRtmp.AvMultitrackType | undefined
  if (packetType === multitrackPacketType) {
    const e = r.short(1, "multitrack type")
    if (e !== undefined) return e
    const types = r.u8()
    const type = types >> 4
    packetType = types & 0x0f
    if (type > AvMultitrackType.ManyTracksManyCodecs) return `unknown AvMultitrackType ${type}`
    if (packetType === multitrackPacketType) return "a multitrack message whose tracks are multitrack again"
    multitrack = type as EnhancedRtmp.AvMultitrackType
  }
  let fourCc: string | undefined
  if (multitrack !== AvMultitrackType.ManyTracksManyCodecs) {
    const e = r.short(4, "FourCC")
    if (e !== undefined) return e
    fourCc = fourCcAt(r.body, r.at)
    r.at += 4
  }
  return { multitrack, packetType, fourCc }
}

/**
 * Walks the tracks of a message: calls `track(fourCc, trackId, end)` for each, with the reader at the start
 * of the track's body and `end` the offset after it. Stops at the first error.
 */
const forEachTrack = (
  r: Reader,
  layout: Layout,
  track: (fourCc: string, trackId: number | undefined, end: number) => string | undefined
): string | undefined => {
  const { multitrack } = layout
  if (multitrack === undefined) return track(layout.fourCc!, undefined, r.body.length)
  do {
    let fourCc = layout.fourCc
    if (fourCc === undefined) {
      const e = r.short(4, "track FourCC")
      if (e !== undefined) return e
      fourCc = fourCcAt(r.body, r.at)
      r.at += 4
    }
    const e1 = r.short(1, "track id")
    if (e1 !== undefined) return e1
    const trackId = r.u8()
    let end = r.body.length
    if (multitrack !== AvMultitrackType.OneTrack) {
      const e2 = r.short(3, "track size")
      if (e2 !== undefined) return e2
      const size = r.u24()
      end = r.at + size
      if (end > r.body.length) {
        return `track ${trackId} declares ${size} bytes, ${r.body.length - r.at} present`
      }
    }
    const e3 = track(fourCc, trackId, end)
    if (e3 !== undefined) return e3
    r.at = end
  } while (r.at < r.body.length)
  return undefined
}

/**
 * Reads an Enhanced RTMP video body (bit 7 of byte 0 set) into frames appended to `out`; returns an error
 * reason, or undefined. Command frames (FrameType 5 without Metadata) carry no picture and give no frame.
 *
 * @internal
 */
export const readVideo = (dts: number, body: Uint8Array, out: Array<MediaFrame>): string | undefined => {
  const r = new Reader(body, "Enhanced RTMP video tag")
  const b0 = r.u8()
  const frameType = (b0 >> 4) & 0x07
  const modEx = readModEx(r, b0 & 0x0f)
  if (typeof modEx === "string") return modEx
  // Video info/command frames (seek start/end markers) carry no picture: dropped, as in legacy FLV
  if (frameType === VideoFrameType.Command && modEx.packetType !== VideoPacketType.Metadata) return undefined
  const layout = readLayout(r, modEx.packetType, VideoPacketType.Multitrack)
  if (typeof layout === "string") return layout
  const { packetType } = layout
  const keyframe = frameType === VideoFrameType.KeyFrame
  return forEachTrack(r, layout, (fourCc, track, end) => {
    const codec = EnhancedRtmp.videoCodecOf(fourCc)
    if (codec === undefined) return `unsupported video codec: Enhanced RTMP FourCC ${printable(fourCc)}`
    let cts = 0
    let config = false
    let endOfSequence: boolean | undefined
    let metadata: boolean | undefined
    switch (packetType) {
      case VideoPacketType.SequenceStart:
        config = true
        break
      case VideoPacketType.CodedFrames:
        if (EnhancedRtmp.hasCompositionTime(codec)) {
          if (r.at + 3 > end) return `truncated Enhanced RTMP video tag: no room for the ${fourCc} composition time`
          // SI24, sign-extended
          cts = (r.u24() << 8) >> 8
        }
        break
      case VideoPacketType.CodedFramesX:
        break
      case VideoPacketType.SequenceEnd:
        endOfSequence = true
        break
      case VideoPacketType.Metadata:
        metadata = true
        break
      default:
        return `unsupported VideoPacketType ${packetType}${
          packetType in videoPacketTypeNames ? ` (${videoPacketTypeNames[packetType]})` : ""
        }`
    }
    out.push(frame("video", codec, dts, cts, keyframe && !metadata, config, body.subarray(r.at, end), {
      track,
      endOfSequence,
      metadata,
      multichannelConfig: undefined,
      nano: modEx.nano
    }))
    return undefined
  })
}

/**
 * Reads an Enhanced RTMP audio body (SoundFormat 9) into frames appended to `out`; returns an error
 * reason, or undefined. Audio frames are `keyframe: true`, as legacy ones.
 *
 * @internal
 */
export const readAudio = (dts: number, body: Uint8Array, out: Array<MediaFrame>): string | undefined => {
  const r = new Reader(body, "Enhanced RTMP audio tag")
  const modEx = readModEx(r, r.u8() & 0x0f)
  if (typeof modEx === "string") return modEx
  const layout = readLayout(r, modEx.packetType, AudioPacketType.Multitrack)
  if (typeof layout === "string") return layout
  const { packetType } = layout
  return forEachTrack(r, layout, (fourCc, track, end) => {
    const codec = EnhancedRtmp.audioCodecOf(fourCc)
    if (codec === undefined) return `unsupported audio codec: Enhanced RTMP FourCC ${printable(fourCc)}`
    let config = false
    let endOfSequence: boolean | undefined
    let multichannelConfig: boolean | undefined
    switch (packetType) {
      case AudioPacketType.SequenceStart:
        config = true
        break
      case AudioPacketType.CodedFrames:
        break
      case AudioPacketType.SequenceEnd:
        endOfSequence = true
        break
      case AudioPacketType.MultichannelConfig:
        multichannelConfig = true
        break
      default:
        return `unsupported AudioPacketType ${packetType}`
    }
    out.push(frame("audio", codec, dts, 0, true, config, body.subarray(r.at, end), {
      track,
      endOfSequence,
      metadata: undefined,
      multichannelConfig,
      nano: modEx.nano
    }))
    return undefined
  })
}

/** A frame with only the optional fields that are set (frames compare equal to hand-written ones). */
const frame = (
  kind: "video" | "audio",
  codec: string,
  dts: number,
  cts: number,
  keyframe: boolean,
  config: boolean,
  payload: Uint8Array,
  extra: {
    readonly track: number | undefined
    readonly endOfSequence: boolean | undefined
    readonly metadata: boolean | undefined
    readonly multichannelConfig: boolean | undefined
    readonly nano: number | undefined
  }
): MediaFrame => {
  const f: {
    -readonly [K in keyof MediaFrame]: MediaFrame[K]
  } = { kind, codec, dts, cts, keyframe, config, payload, audioFlags: undefined }
  if (extra.track !== undefined) f.track = extra.track
  if (extra.endOfSequence !== undefined) f.endOfSequence = extra.endOfSequence
  if (extra.metadata !== undefined) f.metadata = extra.metadata
  if (extra.multichannelConfig !== undefined) f.multichannelConfig = extra.multichannelConfig
  if (extra.nano !== undefined) f.timestampOffsetNano = extra.nano
  return f
}
