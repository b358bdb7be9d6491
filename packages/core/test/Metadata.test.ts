import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import * as Amf0 from "../src/Amf0.ts"
import * as EnhancedRtmp from "../src/EnhancedRtmp.ts"
import * as FlvMuxer from "../src/FlvMuxer.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as Metadata from "../src/Metadata.ts"
import * as Mp4Demuxer from "../src/Mp4Demuxer.ts"
import { ffmpeg, requireEncoders } from "./mp4Fixtures.ts"

/** What ffprobe says of each stream: the oracle for sizes, rates and channels. */
interface ProbedStream {
  readonly codec_type: "video" | "audio"
  readonly codec_name: string
  readonly width?: number
  readonly height?: number
  readonly sample_rate?: string
  readonly channels?: number
}

const ffprobe = (file: string): Promise<ReadonlyArray<ProbedStream>> =>
  new Promise((resolve, reject) =>
    execFile(
      "ffprobe",
      ["-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height,sample_rate,channels", "-of", "json", file],
      (error, stdout) => (error === null ? resolve(JSON.parse(stdout).streams) : reject(error))
    )
  )

const video = ["-f", "lavfi", "-i", "testsrc2=size=174x98:rate=30"]
const stereo = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "2"]
const mono44 = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]

let files: Record<string, string>

beforeAll(async () => {
  await requireEncoders(["libx264", "libx265", "libsvtav1", "libvpx-vp9", "libvpx", "aac", "libopus", "flac", "libmp3lame"])
  const short = ["-t", "0.4"]
  const entries = await Promise.all(
    Object.entries({
      // Sizes that are no multiple of the coding block: AVC and HEVC crop, AV1 and VP9 carry the size as is
      "avc-aac": [...video, ...mono44, ...short, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
      "hevc-opus": [...video, ...stereo, ...short, "-c:v", "libx265", "-x265-params", "log-level=error", "-c:a", "libopus"],
      "av1-flac": [
        ...video, ...stereo, ...short, "-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "lp=1", "-c:a", "flac",
        "-strict", "experimental"
      ],
      "vp9-mp3": [...video, ...mono44, ...short, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libmp3lame"],
      // ffmpeg 5.1 puts no VP8 in MP4: an IVF, whose first frame the test takes itself
      "vp8": [...video, ...short, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-f", "ivf"]
    }).map(async ([name, args]) =>
      [name, await ffmpeg(`metadata-${name}.${name === "vp8" ? "ivf" : "mp4"}`, args)] as const
    )
  )
  files = Object.fromEntries(entries)
}, 120_000)

/** The first frames of an MP4 (its configuration records and first samples), or of a VP8 IVF. */
const firstFrames = async (file: string, n = 8): Promise<ReadonlyArray<MediaFrame>> => {
  if (file.endsWith(".ivf")) {
    // IVF: a 32-byte file header, then frames of a 12-byte header (size LE32, pts LE64) and the data
    const bytes = new Uint8Array(await fs.readFile(file))
    const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(32, true)
    return [
      { kind: "video", codec: "vp8", dts: 0, cts: 0, keyframe: true, config: true, payload: new Uint8Array([0, 0, 0x80, 2, 2, 2, 0, 0]) },
      { kind: "video", codec: "vp8", dts: 0, cts: 0, keyframe: true, config: false, payload: bytes.subarray(44, 44 + size) }
    ]
  }
  return Effect.runPromise(Stream.runCollect(Stream.take(Mp4Demuxer.demuxFile(file), n)))
}

const fourCc = (f: string) => EnhancedRtmp.fourCcValue(f)

/** The metadata properties of a frame's AMF0 payload. */
const decodeMetaData = (frame: MediaFrame): Readonly<Record<string, Amf0.Amf0Value>> => {
  const decoded = Amf0.decode(frame.payload)
  if (decoded._tag !== "Success") throw new Error("onMetaData does not decode")
  const [name, array] = decoded.success
  assert.strictEqual(name, "onMetaData")
  assert.instanceOf(array, Amf0.Amf0EcmaArray)
  return (array as Amf0.Amf0EcmaArray).entries
}

describe("Metadata.onMetaData from MP4 inputs (ffprobe is the oracle)", () => {
  const cases: ReadonlyArray<{
    readonly name: string
    readonly videocodecid: number | undefined
    readonly audiocodecid: number | undefined
  }> = [
    { name: "avc-aac", videocodecid: 7, audiocodecid: 10 },
    { name: "hevc-opus", videocodecid: fourCc("hvc1"), audiocodecid: fourCc("Opus") },
    { name: "av1-flac", videocodecid: fourCc("av01"), audiocodecid: fourCc("fLaC") },
    { name: "vp9-mp3", videocodecid: fourCc("vp09"), audiocodecid: 2 },
    { name: "vp8", videocodecid: fourCc("vp08"), audiocodecid: undefined }
  ]
  for (const c of cases) {
    it(`${c.name}: codec ids, picture size, sample rate and channels`, async () => {
      const [frames, streams] = await Promise.all([firstFrames(files[c.name]!), ffprobe(files[c.name]!)])
      const frame = Metadata.onMetaData(frames)
      assert.deepInclude(frame, { kind: "data", codec: "amf0", dts: 0, cts: 0, keyframe: false, config: false })
      const props = decodeMetaData(frame)
      const v = streams.find((s) => s.codec_type === "video")!
      const a = streams.find((s) => s.codec_type === "audio")
      const expected: Record<string, Amf0.Amf0Value> = {
        width: v.width!,
        height: v.height!,
        videocodecid: c.videocodecid
      }
      if (a !== undefined) {
        expected.audiosamplerate = Number(a.sample_rate)
        expected.audiosamplesize = 16
        expected.stereo = a.channels! >= 2
        expected.audiocodecid = c.audiocodecid
      }
      assert.deepStrictEqual(props, expected)
      assert.deepStrictEqual([v.width, v.height], [174, 98])
    })
  }

  it("exHeaderForLegacyCodecs gives the FourCCs of avc and aac", async () => {
    const props = decodeMetaData(Metadata.onMetaData(await firstFrames(files["avc-aac"]!), { exHeaderForLegacyCodecs: true }))
    assert.deepInclude(props, { videocodecid: fourCc("avc1"), audiocodecid: fourCc("mp4a") })
  })
})

const frame = (f: Partial<MediaFrame> & Pick<MediaFrame, "kind" | "codec">): MediaFrame => ({
  dts: 0,
  cts: 0,
  keyframe: true,
  config: false,
  payload: new Uint8Array(0),
  ...f
})

// An OpusHead: 2 channels, pre-skip 312, 48 kHz; an AudioSpecificConfig: AAC LC, 44.1 kHz, mono
const opusHead = new Uint8Array([...Buffer.from("OpusHead"), 1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0])
const aacConfig = new Uint8Array([0x12, 0x08])

describe("Metadata.onMetaData", () => {
  it("is the exact AMF0 body of a data frame: \"onMetaData\" and an ECMA array", () => {
    const out = Metadata.onMetaData([
      frame({ kind: "audio", codec: "opus", config: true, payload: opusHead, dts: 40 }),
      frame({ kind: "audio", codec: "opus", payload: new Uint8Array([0xfc]), dts: 40 })
    ])
    const number = (n: number) => {
      const b = Buffer.alloc(8)
      b.writeDoubleBE(n)
      return [0x00, ...b]
    }
    const key = (s: string) => [0, s.length, ...Buffer.from(s)]
    const expected = [
      0x02, ...key("onMetaData"),
      0x08, 0, 0, 0, 4,
      ...key("audiosamplerate"), ...number(48000),
      ...key("audiosamplesize"), ...number(16),
      ...key("stereo"), 0x01, 1,
      ...key("audiocodecid"), ...number(0x4f707573),
      0, 0, 9
    ]
    assert.deepStrictEqual([...out.payload], expected)
    assert.strictEqual(out.dts, 40)
  })

  it("describes tracks other than 0 in videoTrackIdInfoMap / audioTrackIdInfoMap, with FourCCs", () => {
    const props = Metadata.properties([
      frame({ kind: "audio", codec: "aac", config: true, payload: aacConfig }),
      frame({ kind: "audio", codec: "aac", config: true, payload: aacConfig, track: 1 }),
      frame({ kind: "audio", codec: "opus", config: true, payload: opusHead, track: 2 }),
      frame({ kind: "video", codec: "vp9", config: true, payload: new Uint8Array(8), track: 1 })
    ]).entries
    assert.deepStrictEqual(props, {
      audiosamplerate: 44100,
      audiosamplesize: 16,
      stereo: false,
      audiocodecid: 10,
      videoTrackIdInfoMap: { "1": { videocodecid: fourCc("vp09") } },
      audioTrackIdInfoMap: {
        "1": { samplerate: 44100, channels: 1, audiocodecid: fourCc("mp4a") },
        "2": { samplerate: 48000, channels: 2, audiocodecid: fourCc("Opus") }
      }
    })
  })

  it("leaves out what nothing tells, and takes extra properties", () => {
    const props = Metadata.properties([frame({ kind: "audio", codec: "ac3", payload: new Uint8Array(10) })], {
      extra: { duration: 2, encoder: "test" }
    }).entries
    assert.deepStrictEqual(props, { audiocodecid: fourCc("ac-3"), duration: 2, encoder: "test" })
  })

  it("is sent as @setDataFrame(\"onMetaData\", ...) by the muxer", () => {
    const message = FlvMuxer.toMessage(Metadata.onMetaData([frame({ kind: "audio", codec: "aac", config: true, payload: aacConfig })]), 1)
    const bytes = Buffer.concat(message.payload instanceof Uint8Array ? [message.payload] : [...message.payload])
    const decoded = Amf0.decode(bytes)
    assert.strictEqual(decoded._tag, "Success")
    if (decoded._tag === "Success") assert.deepStrictEqual(decoded.success.slice(0, 2), ["@setDataFrame", "onMetaData"])
  })
})

describe("Metadata.ensureOnMetaData", () => {
  const run = (frames: ReadonlyArray<MediaFrame>, chunk = 1) =>
    Effect.runPromise(
      Stream.fromIterable(frames).pipe(Stream.rechunk(chunk), Metadata.ensureOnMetaData(), Stream.runCollect)
    )

  const configs = [
    frame({ kind: "video", codec: "vp9", config: true, payload: new Uint8Array(8), dts: 0 }),
    frame({ kind: "audio", codec: "opus", config: true, payload: opusHead, dts: 0 })
  ]
  const media = Array.from({ length: 100 }, (_, i) =>
    frame({ kind: i % 2 === 0 ? "video" : "audio", codec: i % 2 === 0 ? "vp9" : "opus", dts: i * 10, payload: Uint8Array.of(i) })
  )

  for (const chunk of [1, 3, 1000]) {
    it(`prepends onMetaData to a stream without one, then every frame in order (batches of ${chunk})`, async () => {
      const out = await run([...configs, ...media], chunk)
      assert.strictEqual(out.length, 1 + configs.length + media.length)
      assert.isTrue(Metadata.isOnMetaData(out[0]!))
      assert.deepStrictEqual(out.slice(1), [...configs, ...media])
      assert.deepInclude(decodeMetaData(out[0]!), { videocodecid: fourCc("vp09"), audiocodecid: fourCc("Opus") })
    })
  }

  it("leaves a stream that starts with onMetaData untouched", async () => {
    const own = Metadata.onMetaData(configs, { extra: { encoder: "own" } })
    const frames = [own, ...configs, ...media]
    assert.deepStrictEqual(await run(frames, 2), frames)
  })

  it("keeps an empty stream empty, and describes a stream shorter than its tracks' first frames", async () => {
    assert.deepStrictEqual(await run([]), [])
    const out = await run(configs)
    assert.strictEqual(out.length, 3)
    assert.isTrue(Metadata.isOnMetaData(out[0]!))
  })

  it("passes the source's failure on", async () => {
    const failing = Stream.concat(Stream.fromIterable(configs), Stream.fail("boom"))
    const result = await Effect.runPromise(Effect.flip(Stream.runCollect(failing.pipe(Metadata.ensureOnMetaData()))))
    assert.strictEqual(result, "boom")
  })
})
