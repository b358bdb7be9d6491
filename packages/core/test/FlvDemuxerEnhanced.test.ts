/**
 * Enhanced FLV read by FlvDemuxer: a file FFmpeg 8 wrote (AV1 + Opus), hand-made tags for every packet
 * type, multitrack form and ModEx, the errors, and the round trip mux(demux(tag)) == tag.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Amf0 from "../src/Amf0.ts"
import { AvMultitrackType } from "../src/EnhancedRtmp.ts"
import * as FlvDemuxer from "../src/FlvDemuxer.ts"
import * as FlvMuxer from "../src/FlvMuxer.ts"
import { End, FlvDecoder, NeedInput } from "../src/internal/flvDecoder.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import type { RtmpMessage } from "../src/Message.ts"
import { InvalidMedia } from "../src/RtmpError.ts"
import { buildFlv, randomChunks, rawTags } from "./flvFixtures.ts"

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex")
const fromHex = (s: string) => Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))

const body = (message: RtmpMessage): string =>
  message.payload instanceof Uint8Array ? hex(message.payload) : message.payload.map(hex).join("")

const demux = (chunks: ReadonlyArray<Uint8Array>) =>
  Stream.fromIterable(chunks, { chunkSize: 1 }).pipe(FlvDemuxer.demux("test.flv"), Stream.runCollect)

const demuxError = (bytes: Uint8Array) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Stream.runDrain(Stream.make(bytes).pipe(FlvDemuxer.demux("test.flv"))))
    assert.instanceOf(error, InvalidMedia)
    return error
  })

/** Frames as plain comparable values, payload as hex. */
const comparable = (frames: ReadonlyArray<MediaFrame>) => frames.map((f) => ({ ...f, payload: hex(f.payload) }))

/** The frames of one tag body, decoded synchronously. */
const framesOf = (type: number, tagBody: ReadonlyArray<number>): Array<MediaFrame> => {
  const decoder = new FlvDecoder("tag")
  decoder.push(buildFlv([{ type, timestamp: 1000, body: tagBody }]))
  decoder.end()
  const out: Array<MediaFrame> = []
  const status = decoder.decode(out)
  if (status !== End) assert.fail(`decoding ${hex(Uint8Array.from(tagBody))}: ${String(status)}`)
  return out
}

/**
 * The message body of frames read from one tag: `toMessage` for a frame without a track (not from a
 * multitrack message), `toMultitrackMessage` for the tracks of a multitrack message.
 */
const remux = (
  frames: ReadonlyArray<MediaFrame>,
  options?: FlvMuxer.Options & FlvMuxer.MultitrackOptions
): string => {
  assert.isAbove(frames.length, 0)
  const [first, ...rest] = frames as [MediaFrame, ...Array<MediaFrame>]
  return first.track === undefined && rest.length === 0
    ? body(FlvMuxer.toMessage(first, 1, options))
    : body(FlvMuxer.toMultitrackMessage([first, ...rest], 1, options))
}

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
const hvcC = "01016000000090000000000078f000fcfdf8f800000f"
const opusHead = "4f707573486561640102380180bb0000000000"
const colorInfo = hex(Amf0.encode(["colorInfo", { colorConfig: { bitDepth: 10, colorPrimaries: 9 } }]))

/** A frame as `comparable` gives it, with the defaults of a frame read at dts 1000. */
const expected = (fields: Partial<ReturnType<typeof comparable>[number]> & { kind: "video" | "audio"; codec: string }) => ({
  dts: 1000,
  cts: 0,
  keyframe: fields.kind === "audio",
  config: false,
  payload: "",
  audioFlags: undefined,
  ...fields
})

interface Case {
  readonly name: string
  readonly type: 8 | 9
  readonly body: string
  readonly frames: ReadonlyArray<ReturnType<typeof expected>>
  /** Options to re-mux with, for forms that are not the muxer's default. */
  readonly options?: FlvMuxer.Options & FlvMuxer.MultitrackOptions
}

const cases: ReadonlyArray<Case> = [
  {
    name: "hvc1 SequenceStart",
    type: 9,
    body: `90${hvc1}${hvcC}`,
    frames: [expected({ kind: "video", codec: "hevc", keyframe: true, config: true, payload: hvcC })]
  },
  {
    name: "hvc1 CodedFrames, keyframe, negative composition time",
    type: 9,
    body: `91${hvc1}fffffe 0000000226 01`,
    frames: [expected({ kind: "video", codec: "hevc", keyframe: true, cts: -2, payload: "000000022601" })]
  },
  {
    name: "hvc1 CodedFrames, inter frame, composition time 33",
    type: 9,
    body: `a1${hvc1}000021 aabb`,
    frames: [expected({ kind: "video", codec: "hevc", cts: 33, payload: "aabb" })]
  },
  {
    name: "hvc1 CodedFramesX",
    type: 9,
    body: `a3${hvc1}aabb`,
    frames: [expected({ kind: "video", codec: "hevc", payload: "aabb" })]
  },
  {
    name: "hvc1 SequenceEnd",
    type: 9,
    body: `92${hvc1}`,
    frames: [expected({ kind: "video", codec: "hevc", keyframe: true, endOfSequence: true })]
  },
  {
    name: "av01 empty SequenceStart (FFmpeg, before the encoder's configuration is known)",
    type: 9,
    body: `90${av01}`,
    frames: [expected({ kind: "video", codec: "av1", keyframe: true, config: true })]
  },
  {
    name: "av01 Metadata colorInfo (frame type 5)",
    type: 9,
    body: `d4${av01}${colorInfo}`,
    frames: [expected({ kind: "video", codec: "av1", metadata: true, payload: colorInfo })]
  },
  {
    name: "vp09 CodedFrames, inter frame",
    type: 9,
    body: `a1${vp09}8249`,
    frames: [expected({ kind: "video", codec: "vp9", payload: "8249" })]
  },
  {
    name: "avc1 CodedFrames on track 0 (the muxer writes it when asked)",
    type: 9,
    body: `91${avc1}000043 00000001 65`,
    frames: [expected({ kind: "video", codec: "avc", keyframe: true, cts: 67, payload: "0000000165" })],
    options: { exHeaderForLegacyCodecs: true }
  },
  {
    name: "OneTrack hvc1 track 1, CodedFrames with composition time (FFmpeg's second video stream)",
    type: 9,
    body: `9601${hvc1}01 000021 aabb`,
    frames: [expected({ kind: "video", codec: "hevc", keyframe: true, cts: 33, payload: "aabb", track: 1 })]
  },
  {
    name: "OneTrack of track 0",
    type: 9,
    body: `9600${hvc1}00${hvcC}`,
    frames: [expected({ kind: "video", codec: "hevc", keyframe: true, config: true, payload: hvcC, track: 0 })]
  },
  {
    name: "ManyTracks hvc1 CodedFramesX, two tracks",
    type: 9,
    body: `9613${hvc1} 00 000002 0102 01 000001 03`,
    frames: [
      expected({ kind: "video", codec: "hevc", keyframe: true, payload: "0102", track: 0 }),
      expected({ kind: "video", codec: "hevc", keyframe: true, payload: "03", track: 1 })
    ]
  },
  {
    name: "ManyTracksManyCodecs video: hvc1 with composition time, av01 without",
    type: 9,
    body: `a621 ${hvc1} 00 000005 000021 0102 ${av01} 01 000001 03`,
    frames: [
      expected({ kind: "video", codec: "hevc", cts: 33, payload: "0102", track: 0 }),
      expected({ kind: "video", codec: "av1", payload: "03", track: 1 })
    ]
  },
  {
    name: "ModEx TimestampOffsetNano, video",
    type: 9,
    body: `a7 02 07a120 03 ${hvc1} aabb`,
    frames: [expected({ kind: "video", codec: "hevc", payload: "aabb", timestampOffsetNano: 500_000 })]
  },
  {
    name: "ModEx TimestampOffsetNano, then ManyTracks video",
    type: 9,
    body: `a7 02 000007 06 13 ${hvc1} 00 000001 01 01 000001 02`,
    frames: [
      expected({ kind: "video", codec: "hevc", payload: "01", track: 0, timestampOffsetNano: 7 }),
      expected({ kind: "video", codec: "hevc", payload: "02", track: 1, timestampOffsetNano: 7 })
    ]
  },
  {
    name: "Opus SequenceStart (OpusHead)",
    type: 8,
    body: `90${opus}${opusHead}`,
    frames: [expected({ kind: "audio", codec: "opus", config: true, payload: opusHead })]
  },
  {
    name: "Opus MultichannelConfig, native order, stereo",
    type: 8,
    body: `94${opus}01 02 00000003`,
    frames: [expected({ kind: "audio", codec: "opus", multichannelConfig: true, payload: "010200000003" })]
  },
  {
    name: "Opus CodedFrames",
    type: 8,
    body: `91${opus}fcfffe`,
    frames: [expected({ kind: "audio", codec: "opus", payload: "fcfffe" })]
  },
  {
    name: "Opus SequenceEnd",
    type: 8,
    body: `92${opus}`,
    frames: [expected({ kind: "audio", codec: "opus", endOfSequence: true })]
  },
  {
    name: "fLaC SequenceStart",
    type: 8,
    body: `90${flac}664c614380000022 1200`,
    frames: [expected({ kind: "audio", codec: "flac", config: true, payload: "664c6143800000221200" })]
  },
  {
    name: "ac-3 empty SequenceStart (FFmpeg)",
    type: 8,
    body: `90${ac3}`,
    frames: [expected({ kind: "audio", codec: "ac3", config: true })]
  },
  {
    name: "ec-3 CodedFrames",
    type: 8,
    body: `91${ec3}0b77`,
    frames: [expected({ kind: "audio", codec: "eac3", payload: "0b77" })]
  },
  {
    name: "mp4a SequenceStart on track 0 (the muxer writes it when asked)",
    type: 8,
    body: `90${mp4a}1210`,
    frames: [expected({ kind: "audio", codec: "aac", config: true, payload: "1210" })],
    options: { exHeaderForLegacyCodecs: true }
  },
  {
    name: "OneTrack .mp3 track 1",
    type: 8,
    body: `9501${mp3}01 fffb`,
    frames: [expected({ kind: "audio", codec: "mp3", payload: "fffb", track: 1 })]
  },
  {
    name: "ManyTracks Opus, two tracks",
    type: 8,
    body: `9511${opus} 00 000003 aabbcc 01 000002 ddee`,
    frames: [
      expected({ kind: "audio", codec: "opus", payload: "aabbcc", track: 0 }),
      expected({ kind: "audio", codec: "opus", payload: "ddee", track: 1 })
    ]
  },
  {
    name: "ManyTracksManyCodecs audio: Opus and AAC",
    type: 8,
    body: `9521 ${opus} 00 000003 aabbcc ${mp4a} 01 000002 ddee`,
    frames: [
      expected({ kind: "audio", codec: "opus", payload: "aabbcc", track: 0 }),
      expected({ kind: "audio", codec: "aac", payload: "ddee", track: 1 })
    ]
  },
  {
    name: "ManyTracksManyCodecs of one codec (re-muxed when the type is given)",
    type: 8,
    body: `9521 ${opus} 00 000001 aa ${opus} 01 000001 bb`,
    frames: [
      expected({ kind: "audio", codec: "opus", payload: "aa", track: 0 }),
      expected({ kind: "audio", codec: "opus", payload: "bb", track: 1 })
    ],
    options: { multitrackType: AvMultitrackType.ManyTracksManyCodecs }
  },
  {
    name: "ModEx TimestampOffsetNano, then OneTrack audio",
    type: 8,
    body: `97 02 03d090 05 01 ${opus} 01 aabbcc`,
    frames: [expected({ kind: "audio", codec: "opus", payload: "aabbcc", track: 1, timestampOffsetNano: 250_000 })]
  }
]

describe("FlvDemuxer, Enhanced FLV", () => {
  it("every packet type, multitrack form and ModEx: the frames, and mux(demux(tag)) == tag", () => {
    for (const c of cases) {
      const tagBody = fromHex(c.body)
      const frames = framesOf(c.type, tagBody)
      assert.deepStrictEqual(comparable(frames), [...c.frames], c.name)
      assert.strictEqual(remux(frames, c.options), hex(Uint8Array.from(tagBody)), `${c.name}: round trip`)
    }
  })

  it.effect("the same tags in one file, in 1-byte and random chunks: the same frames, in order", () =>
    Effect.gen(function*() {
      const file = buildFlv(cases.map((c, i) => ({ type: c.type, timestamp: 1000 + i, body: fromHex(c.body) })))
      const want = cases.flatMap((c, i) => c.frames.map((f) => ({ ...f, dts: 1000 + i })))
      const bytes = Array.from({ length: file.length }, (_, i) => file.subarray(i, i + 1))
      assert.deepStrictEqual(comparable(yield* demux(bytes)), want)
      assert.deepStrictEqual(comparable(yield* demux(randomChunks(file, 9, 40))), want)
    }))

  it("payloads are subarrays of the tag body, every track's too", () => {
    const file = buildFlv([{ type: 8, timestamp: 0, body: fromHex(`9521 ${opus} 00 000003 aabbcc ${mp4a} 01 000002 ddee`) }])
    const decoder = new FlvDecoder("test.flv")
    decoder.push(file)
    decoder.end()
    const out: Array<MediaFrame> = []
    assert.strictEqual(decoder.decode(out), End)
    assert.strictEqual(out.length, 2)
    for (const f of out) assert.strictEqual(f.payload.buffer, file.buffer)
    assert.strictEqual(out[0]!.payload.byteOffset, 13 + 11 + 2 + 4 + 1 + 3)
  })

  it("forms the muxer writes differently, with the same meaning", () => {
    // CodedFrames with a zero composition time go out as CodedFramesX (what FFmpeg writes)
    const zero = framesOf(9, fromHex(`a1${hvc1}000000 aabb`))
    assert.deepStrictEqual(comparable(zero), [expected({ kind: "video", codec: "hevc", payload: "aabb" })])
    assert.strictEqual(remux(zero), `a3${hvc1}aabb`)
    // Metadata with another frame type than 5
    assert.strictEqual(remux(framesOf(9, fromHex(`94${av01}${colorInfo}`))), `d4${av01}${colorInfo}`)
    // avc1 / mp4a / .mp3 on track 0 go legacy by default
    assert.strictEqual(remux(framesOf(9, fromHex(`91${avc1}000043 65`))), "170100004365")
    assert.strictEqual(remux(framesOf(8, fromHex(`91${mp3}fffb`))), "2ffffb")
  })

  it("ModEx: unknown types are skipped, sizes past 255 use the UI16 form, packets chain", () => {
    // ModExType 1 (not defined), 2 bytes of data: skipped
    assert.deepStrictEqual(comparable(framesOf(9, fromHex(`a7 01 aabb 13 ${hvc1} cc`))), [
      expected({ kind: "video", codec: "hevc", payload: "cc" })
    ])
    // UI8 0xff: a UI16 size - 1 follows (300 bytes of data); TimestampOffsetNano reads the first 3
    const data = [0x00, 0x01, 0x02, ...new Array<number>(297).fill(0xee)]
    const long = [0xa7, 0xff, 0x01, 0x2b, ...data, 0x03, ...fromHex(`${hvc1}cc`)]
    assert.deepStrictEqual(comparable(framesOf(9, long)), [
      expected({ kind: "video", codec: "hevc", payload: "cc", timestampOffsetNano: 0x102 })
    ])
    // Two ModEx packets in a row: both read, the last TimestampOffsetNano wins
    assert.deepStrictEqual(comparable(framesOf(8, fromHex(`97 02 000001 07 02 000005 01 ${opus} ee`))), [
      expected({ kind: "audio", codec: "opus", payload: "ee", timestampOffsetNano: 5 })
    ])
  })

  it("Enhanced RTMP command frames carry no picture and are dropped", () => {
    // FrameType 5, packet type not Metadata: a VideoCommand byte, nothing else
    assert.deepStrictEqual(framesOf(9, [0xd0, 0x01]), [])
    assert.deepStrictEqual(framesOf(9, fromHex(`d7 02 000001 00 01`)), [])
  })

  it.effect("malformed or unsupported Enhanced RTMP tags: InvalidMedia at the tag's offset", () =>
    Effect.gen(function*() {
      const failing: ReadonlyArray<readonly [8 | 9, string, RegExp]> = [
        [9, "916876", /truncated Enhanced RTMP video tag: FourCC needs 4 byte\(s\) at body offset 1, 2 left/],
        [9, `91${hvc1}00`, /no room for the hvc1 composition time/],
        [9, `95${av01}00`, /unsupported VideoPacketType 5 \(MPEG2TSSequenceStart\)/],
        [9, `98${hvc1}`, /unsupported VideoPacketType 8/],
        [9, `9616${hvc1}`, /a multitrack message whose tracks are multitrack again/],
        [9, `9631${hvc1}00`, /unknown AvMultitrackType 3/],
        [9, `9611${hvc1}00 000009 aabb`, /track 0 declares 9 bytes, 2 present/],
        [9, `9611${hvc1}00 0000`, /truncated Enhanced RTMP video tag: track size/],
        [9, `9621 6876`, /track FourCC needs 4 byte/],
        [9, `9601 ${hvc1}`, /track id needs 1 byte/],
        [9, `a7 01 aabb 03 ${hvc1}`, /ModEx TimestampOffsetNano of 2 byte\(s\), fewer than 3/],
        [9, `a7 05 aabb`, /ModEx data and type needs 7 byte/],
        [8, `93${opus}`, /unsupported AudioPacketType 3/],
        [8, "91", /truncated Enhanced RTMP audio tag: FourCC/],
        [8, `91 766f7262 00`, /unsupported audio codec: Enhanced RTMP FourCC "vorb"/],
        [8, `95 21 ${opus} 00 000001 aa 4f70`, /track FourCC needs 4 byte/]
      ]
      for (const [type, tagBody, reason] of failing) {
        const file = buildFlv([{ type: 18, timestamp: 0, body: [2, 0, 1, 0x61, 5] }, { type, timestamp: 0, body: fromHex(tagBody) }])
        const error = yield* demuxError(file)
        assert.match(error.reason, reason, tagBody)
        assert.strictEqual(error.offset, 13 + 11 + 5 + 4, tagBody)
      }
    }))
})

describe("FlvDemuxer, an Enhanced FLV written by FFmpeg 8 (AV1 + Opus)", () => {
  const file = new Uint8Array(fs.readFileSync(path.join(import.meta.dirname, "fixtures", "ffmpeg8-av1-opus.flv")))
  const setDataFrame = "02000d40736574446174614672616d65"

  it.effect("its frames: configuration records, channel layout, colorInfo, coded frames", () =>
    Effect.gen(function*() {
      const frames = yield* demux([file])
      const tags = rawTags(file)
      assert.strictEqual(tags.length, 40)
      assert.strictEqual(frames.length, 40)
      assert.deepStrictEqual(frames.map((f) => f.dts), tags.map((t) => t.timestamp))
      assert.deepStrictEqual(comparable(frames.slice(1, 4)), [
        // An empty AV1 SequenceStart first, written before the encoder's configuration was known
        { ...expected({ kind: "video", codec: "av1", keyframe: true, config: true }), dts: 0 },
        { ...expected({ kind: "audio", codec: "opus", config: true, payload: "4f707573486561640101380180bb0000000000" }), dts: 0 },
        // Mono: native order, 1 channel, FrontCenter
        { ...expected({ kind: "audio", codec: "opus", multichannelConfig: true, payload: "010100000004" }), dts: 0 }
      ])
      const av1Config = frames[5]!
      assert.deepInclude(av1Config, { kind: "video", codec: "av1", config: true, keyframe: true, dts: 7 })
      assert.strictEqual(av1Config.payload[0], 0x81, "AV1CodecConfigurationRecord marker and version 1")
      const metadata = frames[6]!
      assert.deepInclude(metadata, { kind: "video", codec: "av1", metadata: true, dts: 7 })
      const [name, value] = Result.getOrThrow(Amf0.decode(metadata.payload))
      assert.strictEqual(name, "colorInfo")
      assert.isTrue(Amf0.isObject(value!) && Amf0.isObject(value.colorConfig!))
      const video = frames.filter((f) => f.kind === "video" && !f.config && f.metadata !== true)
      assert.deepStrictEqual(video.map((f) => f.keyframe).slice(0, 3), [true, false, false])
      assert.isTrue(video.every((f) => f.codec === "av1" && f.cts === 0))
      const audio = frames.filter((f) => f.kind === "audio" && !f.config && f.multichannelConfig !== true)
      assert.strictEqual(audio.length, 21)
      assert.isTrue(audio.every((f) => f.codec === "opus" && f.keyframe && f.payload.length > 400))
    }))

  it.effect("mux(demux(file)) reproduces every tag body, byte for byte", () =>
    Effect.gen(function*() {
      const frames = yield* demux([file])
      const tags = rawTags(file)
      frames.forEach((f, i) => {
        const message = FlvMuxer.toMessage(f, 1)
        assert.strictEqual(message.typeId, tags[i]!.type)
        assert.strictEqual(message.timestamp, tags[i]!.timestamp)
        const expectedBody = (tags[i]!.type === 18 ? setDataFrame : "") + hex(tags[i]!.body)
        assert.isTrue(body(message) === expectedBody, `tag ${i}`)
      })
    }))

  it.effect("1-byte chunks give the same frames", () =>
    Effect.gen(function*() {
      const whole = comparable(yield* demux([file]))
      const decoder = new FlvDecoder("test.flv")
      const out: Array<MediaFrame> = []
      for (let i = 0; i < file.length; i++) {
        decoder.push(file.subarray(i, i + 1))
        assert.strictEqual(decoder.decode(out), NeedInput)
      }
      decoder.end()
      assert.strictEqual(decoder.decode(out), End)
      assert.deepStrictEqual(comparable(out), whole)
    }))
})
