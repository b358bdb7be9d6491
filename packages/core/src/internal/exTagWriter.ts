/**
 * Enhanced RTMP message bodies (ExVideoTagHeader / ExAudioTagHeader) for `FlvMuxer`: the header bytes of
 * one frame, or of a group of same-timestamp frames of several tracks (multitrack), as pieces beside the
 * frames' payloads, which are never copied. Headers without a composition time or ModEx are the same for
 * every frame of a track and packet type: they are made once and shared.
 *
 * @internal
 */
import * as EnhancedRtmp from "../EnhancedRtmp.ts"
import type { MediaFrame } from "../MediaFrame.ts"

const { AudioPacketType, AvMultitrackType, PacketModExType, VideoFrameType, VideoPacketType } = EnhancedRtmp

const fail = (message: string): never => {
  throw new Error(`FlvMuxer: ${message}`)
}

/** The FourCC bytes of each FourCC, and a small index of it for header cache keys. */
const fourCcs = new Map<string, { readonly bytes: Uint8Array; readonly index: number }>()
const fourCcOf = (fourCc: string) => {
  let entry = fourCcs.get(fourCc)
  if (entry === undefined) {
    const bytes = Uint8Array.from(fourCc, (c) => c.charCodeAt(0))
    fourCcs.set(fourCc, entry = { bytes, index: fourCcs.size })
  }
  return entry
}

/** The FourCC of a frame's codec, or a thrown error naming it. */
const frameFourCc = (frame: MediaFrame): string => {
  const fourCc = frame.kind === "video"
    ? (EnhancedRtmp.videoFourCc as Readonly<Record<string, string>>)[frame.codec]
    : (EnhancedRtmp.audioFourCc as Readonly<Record<string, string>>)[frame.codec]
  return fourCc ?? fail(`${frame.kind} codec "${frame.codec}" has no Enhanced RTMP FourCC`)
}

/** The packet type a frame asks for, before the CodedFrames / CodedFramesX choice. */
const basePacketType = (frame: MediaFrame): number => {
  if (frame.kind === "video") {
    if (frame.multichannelConfig === true) fail("multichannelConfig is for audio frames")
    return frame.metadata === true
      ? VideoPacketType.Metadata
      : frame.config
      ? VideoPacketType.SequenceStart
      : frame.endOfSequence === true
      ? VideoPacketType.SequenceEnd
      : VideoPacketType.CodedFrames
  }
  if (frame.metadata === true) fail("metadata is for video frames")
  return frame.multichannelConfig === true
    ? AudioPacketType.MultichannelConfig
    : frame.config
    ? AudioPacketType.SequenceStart
    : frame.endOfSequence === true
    ? AudioPacketType.SequenceEnd
    : AudioPacketType.CodedFrames
}

/**
 * The video frame type: Command for Metadata (FFmpeg's choice; the spec says it is ignored), KeyFrame for
 * keyframes, sequence starts and ends, else InterFrame.
 */
const videoFrameType = (frame: MediaFrame): number =>
  frame.metadata === true
    ? VideoFrameType.Command
    : frame.keyframe || frame.config || frame.endOfSequence === true
    ? VideoFrameType.KeyFrame
    : VideoFrameType.InterFrame

const trackOf = (frame: MediaFrame): number => {
  const track = frame.track ?? 0
  if (!Number.isInteger(track) || track < 0 || track > 255) fail(`track id ${track} is not a UI8 (0-255)`)
  return track
}

const checkNano = (nano: number | undefined): void => {
  if (nano !== undefined && (!Number.isInteger(nano) || nano < 0 || nano > 999_999)) {
    fail(`timestampOffsetNano ${nano} is not an integer in 0-999999`)
  }
}

/**
 * For a video frame of a CodedFrames message: whether it lets the message be CodedFramesX (a codec with a
 * composition time, at 0). A codec without composition time must have cts 0, else it is refused.
 */
const allowsCodedFramesX = (frame: MediaFrame): boolean => {
  if (EnhancedRtmp.hasCompositionTime(frame.codec)) return frame.cts === 0
  if (frame.cts !== 0) fail(`${frame.codec} frames carry no composition time (cts ${frame.cts})`)
  return false
}

/** Whether a frame's track body starts with a SI24 composition time. */
const writesCts = (packetType: number, frame: MediaFrame): boolean =>
  packetType === VideoPacketType.CodedFrames && EnhancedRtmp.hasCompositionTime(frame.codec)

/** Headers without ModEx and composition time: keyed by first byte, multitrack byte, track and FourCC. */
const constantHeaders = new Map<number, Uint8Array>()

/** Writes a UI24 / SI24 big-endian at `at`. */
const put24 = (bytes: Uint8Array, at: number, value: number): void => {
  bytes[at] = (value >> 16) & 0xff
  bytes[at + 1] = (value >> 8) & 0xff
  bytes[at + 2] = value & 0xff
}

/**
 * The body of an Enhanced RTMP message carrying `frames`: header pieces beside the payloads.
 *
 * `multitrack` undefined: one frame, no multitrack header (its track must be 0). Otherwise the frames are
 * the tracks of one multitrack message of that type; they must share kind, dts, packet type, frame type
 * (video) and `timestampOffsetNano`, and have distinct track ids. Video CodedFrames go as CodedFramesX when
 * every track is `avc`/`hevc`/`vvc` with cts 0.
 *
 * @internal
 */
export const body = (
  frames: ReadonlyArray<MediaFrame>,
  multitrack: EnhancedRtmp.AvMultitrackType | undefined
): Array<Uint8Array> => {
  const first = frames[0] ?? fail("a multitrack message needs at least one frame")
  const video = first.kind === "video"
  if (!video && first.kind !== "audio") fail(`a ${first.kind} frame has no Enhanced RTMP form`)
  const base = basePacketType(first)
  const frameType = video ? videoFrameType(first) : 0
  const nano = first.timestampOffsetNano
  checkNano(nano)
  if (multitrack === undefined && (frames.length !== 1 || trackOf(first) !== 0)) {
    fail("frames of a track other than 0 need a multitrack message")
  }
  if (multitrack === AvMultitrackType.OneTrack && frames.length !== 1) fail("OneTrack carries exactly one frame")
  if (multitrack !== undefined && !(multitrack >= 0 && multitrack <= AvMultitrackType.ManyTracksManyCodecs)) {
    fail(`unknown AvMultitrackType ${multitrack}`)
  }

  const fourCc = frameFourCc(first)
  // CodedFrames go as CodedFramesX when no track needs a composition time
  let codedFramesX = video && base === VideoPacketType.CodedFrames
  if (frames.length === 1) {
    if (codedFramesX) codedFramesX = allowsCodedFramesX(first)
  } else {
    const seen = new Set<number>()
    for (const frame of frames) {
      if (frame.kind !== first.kind) fail("the tracks of one message must all be video or all audio")
      if (frame.dts !== first.dts) fail(`the tracks of one message share one timestamp (${frame.dts} != ${first.dts})`)
      if (basePacketType(frame) !== base) fail("the tracks of one message share one packet type")
      if (video && videoFrameType(frame) !== frameType) fail("the video tracks of one message share one frame type")
      if (frame.timestampOffsetNano !== nano) fail("the tracks of one message share one timestampOffsetNano")
      const track = trackOf(frame)
      if (seen.has(track)) fail(`track ${track} appears twice in one message`)
      seen.add(track)
      const codecFourCc = frameFourCc(frame)
      if (multitrack !== AvMultitrackType.ManyTracksManyCodecs && codecFourCc !== fourCc) {
        fail(`ManyTracks carries one codec ("${fourCc}", "${codecFourCc}"): use ManyTracksManyCodecs`)
      }
      if (video && base === VideoPacketType.CodedFrames && !allowsCodedFramesX(frame)) codedFramesX = false
    }
  }
  const packetType = codedFramesX ? VideoPacketType.CodedFramesX : base

  const high = video ? EnhancedRtmp.IsExVideoHeader | (frameType << 4) : EnhancedRtmp.ExHeaderSoundFormat << 4
  const signalled = multitrack === undefined
    ? packetType
    : video
    ? VideoPacketType.Multitrack
    : AudioPacketType.Multitrack
  const many = multitrack !== undefined && multitrack !== AvMultitrackType.OneTrack

  // One frame (no multitrack, or OneTrack): one header piece, shared when it holds no per-frame value
  if (!many) {
    const cts = writesCts(packetType, first)
    const { bytes, index } = fourCcOf(fourCc)
    const track = trackOf(first)
    if (nano === undefined && !cts) {
      const key = ((((high | signalled) << 8 | (multitrack === undefined ? 0 : packetType)) << 8 | track) * 2 +
        (multitrack === undefined ? 0 : 1)) * 64 + index
      let header = constantHeaders.get(key)
      if (header === undefined) {
        header = new Uint8Array(multitrack === undefined ? 5 : 7)
        header[0] = high | signalled
        if (multitrack === undefined) {
          header.set(bytes, 1)
        } else {
          header[1] = (multitrack << 4) | packetType
          header.set(bytes, 2)
          header[6] = track
        }
        constantHeaders.set(key, header)
      }
      return [header, first.payload]
    }
    const header = new Uint8Array(
      1 + (nano === undefined ? 0 : 5) + (multitrack === undefined ? 0 : 1) + 4 + (multitrack === undefined ? 0 : 1) +
        (cts ? 3 : 0)
    )
    let at = writePrefix(header, high, signalled, nano, multitrack, packetType)
    header.set(bytes, at)
    at += 4
    if (multitrack !== undefined) header[at++] = track
    if (cts) put24(header, at, first.cts)
    return [header, first.payload]
  }

  // Several tracks: the message header, then per track its own header and payload
  const manyCodecs = multitrack === AvMultitrackType.ManyTracksManyCodecs
  const header = new Uint8Array(1 + (nano === undefined ? 0 : 5) + 1 + (manyCodecs ? 0 : 4))
  const at = writePrefix(header, high, signalled, nano, multitrack, packetType)
  if (!manyCodecs) header.set(fourCcOf(fourCc).bytes, at)
  const pieces: Array<Uint8Array> = [header]
  for (const frame of frames) {
    const cts = writesCts(packetType, frame)
    const size = (cts ? 3 : 0) + frame.payload.length
    if (size > 0xffffff) fail(`track ${trackOf(frame)} holds ${size} bytes, more than a UI24 size can say`)
    const trackHeader = new Uint8Array((manyCodecs ? 4 : 0) + 1 + 3 + (cts ? 3 : 0))
    let t = 0
    if (manyCodecs) {
      trackHeader.set(fourCcOf(frameFourCc(frame)).bytes, 0)
      t = 4
    }
    trackHeader[t++] = trackOf(frame)
    put24(trackHeader, t, size)
    t += 3
    if (cts) put24(trackHeader, t, frame.cts)
    pieces.push(trackHeader, frame.payload)
  }
  return pieces
}

/**
 * Writes the first byte, the TimestampOffsetNano ModEx when `nano` is given, and the multitrack byte when
 * `multitrack` is given; returns the offset after them.
 */
const writePrefix = (
  header: Uint8Array,
  high: number,
  signalled: number,
  nano: number | undefined,
  multitrack: EnhancedRtmp.AvMultitrackType | undefined,
  packetType: number
): number => {
  let at = 0
  if (nano === undefined) {
    header[at++] = high | signalled
  } else {
    // ModEx is 7 for audio and video alike; its data is a UI24, so UI8 size - 1 = 2
    header[at++] = high | VideoPacketType.ModEx
    header[at++] = 2
    put24(header, at, nano)
    at += 3
    header[at++] = (PacketModExType.TimestampOffsetNano << 4) | signalled
  }
  if (multitrack !== undefined) header[at++] = (multitrack << 4) | packetType
  return at
}
