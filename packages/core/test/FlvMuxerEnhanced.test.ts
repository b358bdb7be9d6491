/**
 * Enhanced RTMP bodies written by FlvMuxer, against vectors computed by hand from the spec (E-RTMP v2,
 * "Enhanced Audio", "Enhanced Video", "Multitrack") and from what FFmpeg's flvenc writes for each case.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Amf0 from "../src/Amf0.ts"
import { AvMultitrackType } from "../src/EnhancedRtmp.ts"
import * as FlvMuxer from "../src/FlvMuxer.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType, payloadLength, type RtmpMessage } from "../src/Message.ts"

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex")
const fromHex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))

/** The whole message body, as hex, pieces concatenated. */
const body = (message: RtmpMessage): string =>
  message.payload instanceof Uint8Array ? hex(message.payload) : message.payload.map(hex).join("")

const frame = (fields: Partial<MediaFrame> & Pick<MediaFrame, "kind" | "codec">): MediaFrame => ({
  dts: 1000,
  cts: 0,
  keyframe: false,
  config: false,
  payload: fromHex("aabbcc"),
  ...fields
})

const video = (codec: string, fields: Partial<MediaFrame> = {}) => frame({ kind: "video", codec, ...fields })
const audio = (codec: string, fields: Partial<MediaFrame> = {}) => frame({ kind: "audio", codec, ...fields })

const mux = (f: MediaFrame, options?: FlvMuxer.Options) => body(FlvMuxer.toMessage(f, 1, options))

// FourCCs as hex
const hvc1 = "68766331"
const av01 = "61763031"
const vp09 = "76703039"
const avc1 = "61766331"
const opus = "4f707573"
const mp4a = "6d703461"
const flac = "664c6143"
const ac3 = "61632d33"
const ec3 = "65632d33"
const mp3 = "2e6d7033"

/** A plausible HEVCDecoderConfigurationRecord start (configurationVersion 1, Main profile). */
const hvcC = "01016000000090000000000078f000fcfdf8f800000f"
/** AV1CodecConfigurationRecord as FFmpeg 8 wrote it (marker/version 0x81), with a sequence header OBU. */
const av1C = "812400000a0e200000000cfca70dbfff34043400803200"
/** VPCodecConfigurationRecord: profile 0, level 31, 8 bit 4:2:0 colocated, BT.709, no init data. */
const vpcC = "001f820101010000"
/** OpusHead: version 1, 2 channels, pre-skip 312, 48000 Hz, gain 0, mapping family 0. */
const opusHead = "4f707573486561640102380180bb0000000000"

describe("FlvMuxer, Enhanced RTMP video (ExVideoTagHeader)", () => {
  it("hvc1 SequenceStart: 0x90 (ExHeader | KeyFrame | SequenceStart), FourCC, HEVCDecoderConfigurationRecord", () => {
    const message = FlvMuxer.toMessage(video("hevc", { config: true, payload: fromHex(hvcC) }), 1)
    assert.deepInclude(message, { typeId: MessageType.Video, streamId: 1, timestamp: 1000 })
    assert.strictEqual(body(message), `90${hvc1}${hvcC}`)
  })

  it("hvc1 CodedFrames carry a SI24 composition time; with cts 0 they go as CodedFramesX without it", () => {
    assert.strictEqual(mux(video("hevc", { keyframe: true, cts: 33 })), `91${hvc1}000021aabbcc`)
    assert.strictEqual(mux(video("hevc", { cts: -33 })), `a1${hvc1}ffffdfaabbcc`)
    assert.strictEqual(mux(video("hevc", { cts: 0x7fffff })), `a1${hvc1}7fffffaabbcc`)
    assert.strictEqual(mux(video("hevc", { keyframe: true })), `93${hvc1}aabbcc`)
    assert.strictEqual(mux(video("hevc")), `a3${hvc1}aabbcc`)
    assert.strictEqual(mux(video("vvc", { cts: 2 })), `a176766331000002aabbcc`)
  })

  it("hvc1 SequenceEnd: 0x92, FourCC, nothing more", () => {
    assert.strictEqual(mux(video("hevc", { endOfSequence: true, payload: new Uint8Array(0) })), `92${hvc1}`)
  })

  it("av01: SequenceStart, CodedFrames (no composition time, never CodedFramesX), Metadata", () => {
    assert.strictEqual(mux(video("av1", { config: true, keyframe: true, payload: fromHex(av1C) })), `90${av01}${av1C}`)
    // FFmpeg writes an empty SequenceStart when the encoder's configuration is not known yet
    assert.strictEqual(mux(video("av1", { config: true, payload: new Uint8Array(0) })), `90${av01}`)
    assert.strictEqual(mux(video("av1", { keyframe: true })), `91${av01}aabbcc`)
    assert.strictEqual(mux(video("av1")), `a1${av01}aabbcc`)
    const colorInfo = Amf0.encode([
      "colorInfo",
      { colorConfig: { transferCharacteristics: 16, matrixCoefficients: 9, colorPrimaries: 9 } }
    ])
    // Metadata: frame type 5 (Command), as FFmpeg writes it; the spec says it is ignored
    const metadata = FlvMuxer.toMessage(video("av1", { metadata: true, keyframe: true, payload: colorInfo }), 1)
    assert.strictEqual(body(metadata), `d4${av01}${hex(colorInfo)}`)
    assert.strictEqual(body(metadata).slice(10, 34), "020009636f6c6f72496e666f")
  })

  it("vp09 and vp08: SequenceStart with the VPCodecConfigurationRecord, CodedFrames, SequenceEnd", () => {
    assert.strictEqual(mux(video("vp9", { config: true, payload: fromHex(vpcC) })), `90${vp09}${vpcC}`)
    assert.strictEqual(mux(video("vp9", { keyframe: true })), `91${vp09}aabbcc`)
    assert.strictEqual(mux(video("vp9")), `a1${vp09}aabbcc`)
    assert.strictEqual(mux(video("vp9", { endOfSequence: true, payload: new Uint8Array(0) })), `92${vp09}`)
    assert.strictEqual(mux(video("vp8", { keyframe: true })), `9176703038aabbcc`)
  })

  it("avc stays legacy unless asked; asked, it goes as avc1 like hvc1", () => {
    assert.strictEqual(mux(video("avc", { keyframe: true, cts: 67 })), "1701000043aabbcc")
    assert.strictEqual(mux(video("avc", { endOfSequence: true, keyframe: true, payload: new Uint8Array(0) })), "1702000000")
    const ex = { exHeaderForLegacyCodecs: true }
    assert.strictEqual(mux(video("avc", { config: true, payload: fromHex("014d401e") }), ex), `90${avc1}014d401e`)
    assert.strictEqual(mux(video("avc", { keyframe: true, cts: 67 }), ex), `91${avc1}000043aabbcc`)
    assert.strictEqual(mux(video("avc", { cts: 0 }), ex), `a3${avc1}aabbcc`)
    assert.strictEqual(mux(video("avc", { endOfSequence: true, payload: new Uint8Array(0) }), ex), `92${avc1}`)
  })

  it("av1, vp9 and vp8 cannot carry a composition time: a frame with one is refused", () => {
    assert.throws(() => mux(video("av1", { cts: 40 })), /av1 frames carry no composition time \(cts 40\)/)
    assert.throws(() => mux(video("vp9", { cts: -1 })), /vp9 frames carry no composition time/)
  })

  it("codecs without a FourCC, and misplaced signals, are refused", () => {
    assert.throws(() => mux(video("h263")), /video codec "h263" has no Enhanced RTMP FourCC/)
    assert.throws(() => mux(video("hevc", { multichannelConfig: true })), /multichannelConfig is for audio frames/)
    assert.throws(() => mux(audio("opus", { metadata: true })), /metadata is for video frames/)
  })
})

describe("FlvMuxer, Enhanced RTMP audio (ExAudioTagHeader, SoundFormat 9)", () => {
  it("Opus: SequenceStart with OpusHead, CodedFrames, MultichannelConfig, SequenceEnd", () => {
    const head = FlvMuxer.toMessage(audio("opus", { config: true, keyframe: true, payload: fromHex(opusHead) }), 1)
    assert.deepInclude(head, { typeId: MessageType.Audio, streamId: 1, timestamp: 1000 })
    assert.strictEqual(body(head), `90${opus}${opusHead}`)
    assert.strictEqual(mux(audio("opus", { keyframe: true, payload: fromHex("fcff fe") })), `91${opus}fcfffe`)
    // Native channel order, 2 channels, mask FrontLeft | FrontRight (what FFmpeg 8 writes for stereo)
    assert.strictEqual(
      mux(audio("opus", { multichannelConfig: true, payload: fromHex("01 02 00000003") })),
      `94${opus}010200000003`
    )
    assert.strictEqual(mux(audio("opus", { endOfSequence: true, payload: new Uint8Array(0) })), `92${opus}`)
  })

  it("fLaC, ac-3, ec-3", () => {
    const streamInfo = "664c61438000002212001200000e0000"
    assert.strictEqual(mux(audio("flac", { config: true, payload: fromHex(streamInfo) })), `90${flac}${streamInfo}`)
    assert.strictEqual(mux(audio("flac", { payload: fromHex("fff8") })), `91${flac}fff8`)
    assert.strictEqual(mux(audio("ac3", { config: true, payload: new Uint8Array(0) })), `90${ac3}`)
    assert.strictEqual(mux(audio("ac3", { payload: fromHex("0b77") })), `91${ac3}0b77`)
    assert.strictEqual(mux(audio("eac3", { payload: fromHex("0b77") })), `91${ec3}0b77`)
  })

  it("aac and mp3 stay legacy unless asked; asked, they go as mp4a and .mp3", () => {
    assert.strictEqual(mux(audio("aac", { config: true, payload: fromHex("1210") })), "af001210")
    assert.strictEqual(mux(audio("mp3")), "2faabbcc")
    const ex = { exHeaderForLegacyCodecs: true }
    assert.strictEqual(mux(audio("aac", { config: true, payload: fromHex("1210") }), ex), `90${mp4a}1210`)
    assert.strictEqual(mux(audio("aac", { audioFlags: 0xaf }), ex), `91${mp4a}aabbcc`)
    assert.strictEqual(mux(audio("mp3"), ex), `91${mp3}aabbcc`)
    // Legacy-only codecs keep their legacy body
    assert.strictEqual(mux(audio("speex", { audioFlags: 0xb2 }), ex), "b2aabbcc")
    // The end of an AAC sequence exists only in Enhanced RTMP
    assert.strictEqual(mux(audio("aac", { endOfSequence: true, payload: new Uint8Array(0) })), `92${mp4a}`)
  })

  it("legacy-only audio codecs cannot go on another track or carry signals", () => {
    assert.throws(() => mux(audio("speex", { track: 1, audioFlags: 0xb2 })), /"speex" has no Enhanced RTMP FourCC/)
    assert.throws(() => mux(audio("pcm", { timestampOffsetNano: 5 })), /"pcm" has no Enhanced RTMP FourCC/)
  })
})

describe("FlvMuxer, multitrack", () => {
  // The scenario: one video track (HEVC, track 1) and two audio tracks (track 0 and 1)
  it("OneTrack: a frame of a track other than 0 (what FFmpeg sends for its second streams)", () => {
    assert.strictEqual(mux(video("hevc", { track: 1, keyframe: true })), `9603${hvc1}01aabbcc`)
    assert.strictEqual(mux(video("hevc", { track: 1, keyframe: true, cts: 33 })), `9601${hvc1}01000021aabbcc`)
    assert.strictEqual(mux(video("hevc", { track: 1, config: true, payload: fromHex(hvcC) })), `9600${hvc1}01${hvcC}`)
    assert.strictEqual(mux(audio("opus", { track: 1 })), `9501${opus}01aabbcc`)
    assert.strictEqual(mux(audio("opus", { track: 1, config: true, payload: fromHex(opusHead) })), `9500${opus}01${opusHead}`)
    // Legacy codecs on another track use their FourCC (FFmpeg does the same)
    assert.strictEqual(mux(video("avc", { track: 2, cts: 67 })), `a601${avc1}02000043aabbcc`)
    assert.strictEqual(mux(audio("aac", { track: 3 })), `9501${mp4a}03aabbcc`)
    assert.strictEqual(mux(audio("mp3", { track: 1 })), `9501${mp3}01aabbcc`)
    // toMultitrackMessage of one frame is OneTrack too, track 0 included
    assert.strictEqual(body(FlvMuxer.toMultitrackMessage([audio("opus")], 1)), `9501${opus}00aabbcc`)
  })

  it("ManyTracks: two audio tracks of one codec, one FourCC, each track with its id and UI24 size", () => {
    const message = FlvMuxer.toMultitrackMessage(
      [audio("opus", { track: 0, payload: fromHex("aabbcc") }), audio("opus", { track: 1, payload: fromHex("ddee") })],
      1
    )
    assert.deepInclude(message, { typeId: MessageType.Audio, timestamp: 1000 })
    assert.strictEqual(body(message), `9511${opus}` + "00000003aabbcc" + "01000002ddee")
    assert.strictEqual(payloadLength(message.payload), 2 + 4 + 7 + 6)
  })

  it("ManyTracksManyCodecs: two audio tracks of two codecs, each track with its FourCC, id and size", () => {
    const message = FlvMuxer.toMultitrackMessage(
      [audio("opus", { track: 0, payload: fromHex("aabbcc") }), audio("aac", { track: 1, payload: fromHex("ddee") })],
      1
    )
    assert.strictEqual(body(message), "9521" + `${opus}00000003aabbcc` + `${mp4a}01000002ddee`)
  })

  it("video ManyTracks: CodedFrames with a composition time per track, or CodedFramesX when all are 0", () => {
    const a = video("hevc", { track: 0, keyframe: true, cts: 33, payload: fromHex("0102") })
    const b = video("hevc", { track: 1, keyframe: true, cts: 0, payload: fromHex("03") })
    assert.strictEqual(body(FlvMuxer.toMultitrackMessage([a, b], 1)), `9611${hvc1}` + "00000005000021" + "0102" + "01000004000000" + "03")
    const x = [{ ...a, cts: 0 }, b] as const
    assert.strictEqual(body(FlvMuxer.toMultitrackMessage(x, 1)), `9613${hvc1}000000020102` + "0100000103")
  })

  it("video ManyTracksManyCodecs: hvc1 with its composition time beside av01 without", () => {
    const message = FlvMuxer.toMultitrackMessage([
      video("hevc", { track: 0, cts: 33, payload: fromHex("0102") }),
      video("av1", { track: 1, payload: fromHex("03") })
    ], 1)
    assert.strictEqual(body(message), "a621" + `${hvc1}00000005000021` + "0102" + `${av01}01000001` + "03")
    const configs = FlvMuxer.toMultitrackMessage([
      video("hevc", { track: 0, config: true, payload: fromHex(hvcC) }),
      video("av1", { track: 1, config: true, payload: fromHex(av1C) })
    ], 1)
    assert.strictEqual(
      body(configs),
      "9620" + `${hvc1}00${(hvcC.length / 2).toString(16).padStart(6, "0")}${hvcC}` +
        `${av01}01${(av1C.length / 2).toString(16).padStart(6, "0")}${av1C}`
    )
  })

  it("the multitrack type can be forced (ManyTracksManyCodecs for one codec)", () => {
    const message = FlvMuxer.toMultitrackMessage(
      [audio("opus", { track: 0, payload: fromHex("aa") }), audio("opus", { track: 1, payload: fromHex("bb") })],
      1,
      { multitrackType: AvMultitrackType.ManyTracksManyCodecs }
    )
    assert.strictEqual(body(message), `9521${opus}00000001aa${opus}01000001bb`)
  })

  it("frames that cannot share one message are refused", () => {
    const a = audio("opus", { track: 0 })
    assert.throws(() => FlvMuxer.toMultitrackMessage([a, audio("opus", { track: 1, dts: 1001 })], 1), /share one timestamp/)
    assert.throws(() => FlvMuxer.toMultitrackMessage([a, audio("opus", { track: 1, config: true })], 1), /one packet type/)
    assert.throws(() => FlvMuxer.toMultitrackMessage([a, audio("opus", { track: 0 })], 1), /track 0 appears twice/)
    assert.throws(() => FlvMuxer.toMultitrackMessage([a, video("hevc", { track: 1 })], 1), /must all be video or all audio/)
    assert.throws(
      () => FlvMuxer.toMultitrackMessage([a, audio("aac", { track: 1 })], 1, { multitrackType: AvMultitrackType.ManyTracks }),
      /ManyTracks carries one codec/
    )
    assert.throws(
      () => FlvMuxer.toMultitrackMessage([a, audio("opus", { track: 1 })], 1, { multitrackType: AvMultitrackType.OneTrack }),
      /OneTrack carries exactly one frame/
    )
    assert.throws(
      () => FlvMuxer.toMultitrackMessage([video("hevc", { keyframe: true }), video("hevc", { track: 1 })], 1),
      /share one frame type/
    )
    assert.throws(() => FlvMuxer.toMultitrackMessage([frame({ kind: "data", codec: "amf0" })], 1), /data frame/)
    assert.throws(() => mux(audio("opus", { track: 256 })), /track id 256 is not a UI8/)
    assert.throws(
      () => FlvMuxer.toMultitrackMessage([a], 1, { multitrackType: 3 as AvMultitrackType }),
      /unknown AvMultitrackType 3/
    )
  })
})

describe("FlvMuxer, ModEx TimestampOffsetNano", () => {
  it("video: ModEx (7), UI8 size - 1 = 2, UI24 nanoseconds, then ModExType 0 | the real packet type", () => {
    // 500000 ns = 0x07a120
    assert.strictEqual(mux(video("hevc", { timestampOffsetNano: 500_000 })), `a70207a12003${hvc1}aabbcc`)
    // 999999 ns = 0x0f423f, with a composition time
    assert.strictEqual(
      mux(video("hevc", { keyframe: true, cts: 33, timestampOffsetNano: 999_999 })),
      `97020f423f01${hvc1}000021aabbcc`
    )
    // An offset of 0 is still sent when given
    assert.strictEqual(mux(video("av1", { keyframe: true, timestampOffsetNano: 0 })), `9702000000` + `01${av01}aabbcc`)
    // avc needs the ExHeader to carry it
    assert.strictEqual(mux(video("avc", { keyframe: true, timestampOffsetNano: 1 })), `9702000001` + `03${avc1}aabbcc`)
  })

  it("audio, and before a multitrack header", () => {
    assert.strictEqual(mux(audio("opus", { timestampOffsetNano: 1 })), `970200000101${opus}aabbcc`)
    // 250000 ns = 0x03d090; then Multitrack (5), then OneTrack | CodedFrames
    assert.strictEqual(mux(audio("opus", { track: 1, timestampOffsetNano: 250_000 })), `970203d0900501${opus}01aabbcc`)
    const many = FlvMuxer.toMultitrackMessage([
      video("hevc", { track: 0, timestampOffsetNano: 7, payload: fromHex("01") }),
      video("hevc", { track: 1, timestampOffsetNano: 7, payload: fromHex("02") })
    ], 1)
    assert.strictEqual(body(many), `a702000007` + `0613${hvc1}` + "0000000101" + "0100000102")
  })

  it("out of range or differing offsets are refused", () => {
    assert.throws(() => mux(video("hevc", { timestampOffsetNano: 1_000_000 })), /timestampOffsetNano 1000000/)
    assert.throws(() => mux(video("hevc", { timestampOffsetNano: 0.5 })), /timestampOffsetNano 0.5/)
    assert.throws(
      () => FlvMuxer.toMultitrackMessage([audio("opus"), audio("opus", { track: 1, timestampOffsetNano: 3 })], 1),
      /share one timestampOffsetNano/
    )
  })
})

describe("FlvMuxer, Enhanced RTMP pieces", () => {
  it("the payload is its own piece, never copied; constant headers are made once and shared", () => {
    const payload = new Uint8Array(1000)
    const one = FlvMuxer.toMessage(video("hevc", { payload }), 1)
    const two = FlvMuxer.toMessage(video("hevc", { payload, dts: 2000 }), 1)
    const pieces1 = one.payload as ReadonlyArray<Uint8Array>
    const pieces2 = two.payload as ReadonlyArray<Uint8Array>
    assert.strictEqual(pieces1.at(-1), payload)
    assert.strictEqual(pieces1[0], pieces2[0], "the 5-byte CodedFramesX header is shared")
    const withCts = FlvMuxer.toMessage(video("hevc", { payload, cts: 40 }), 1).payload as ReadonlyArray<Uint8Array>
    assert.strictEqual(withCts.length, 2)
    assert.strictEqual(withCts[1], payload)
    const onTrack = FlvMuxer.toMessage(audio("opus", { payload, track: 4 }), 1).payload as ReadonlyArray<Uint8Array>
    assert.strictEqual(onTrack[0], (FlvMuxer.toMessage(audio("opus", { payload, track: 4 }), 1).payload as ReadonlyArray<Uint8Array>)[0])
    const a = new Uint8Array(10)
    const b = new Uint8Array(20)
    const many = FlvMuxer.toMultitrackMessage([audio("opus", { payload: a }), audio("aac", { track: 1, payload: b })], 1)
    const pieces = many.payload as ReadonlyArray<Uint8Array>
    assert.strictEqual(pieces.length, 5)
    assert.strictEqual(pieces[2], a)
    assert.strictEqual(pieces[4], b)
    assert.strictEqual(payloadLength(many.payload), 2 + (4 + 1 + 3 + 10) + (4 + 1 + 3 + 20))
  })
})
