import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as FlvDemuxer from "../src/FlvDemuxer.ts"
import { End, FlvDecoder, NeedInput } from "../src/internal/flvDecoder.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as MediaSource from "../src/MediaSource.ts"
import { InvalidMedia } from "../src/RtmpError.ts"
import { buildFlv, makeFlv, type ProbePacket, probePackets, randomChunks, rawTags } from "./flvFixtures.ts"

let plainFile: string
let plain: Uint8Array
let plainProbe: ReadonlyArray<ProbePacket>
let offsetFile: string
let offset: Uint8Array
let offsetProbe: ReadonlyArray<ProbePacket>

beforeAll(() => {
  plainFile = makeFlv("plain", { seconds: 2 })
  plain = new Uint8Array(fs.readFileSync(plainFile))
  plainProbe = probePackets(plainFile)
  offsetFile = makeFlv("offset", { seconds: 1, outputTsOffset: 16777 })
  offset = new Uint8Array(fs.readFileSync(offsetFile))
  offsetProbe = probePackets(offsetFile)
})

const demuxChunks = (chunks: ReadonlyArray<Uint8Array>, options?: { readonly chunkSize?: number }) =>
  Stream.fromIterable(chunks, { chunkSize: options?.chunkSize ?? 1 }).pipe(
    FlvDemuxer.demux("test.flv"),
    Stream.runCollect
  )

const demuxBytes = (bytes: Uint8Array) => demuxChunks([bytes])

const demuxError = (chunks: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function*() {
    const frames: Array<MediaFrame> = []
    const error = yield* Stream.fromIterable(chunks, { chunkSize: 1 }).pipe(
      FlvDemuxer.demux("test.flv"),
      Stream.runForEach((frame) => Effect.sync(() => frames.push(frame))),
      Effect.flip
    )
    assert.instanceOf(error, InvalidMedia)
    return { error, frames }
  })

/** Frames as plain comparable values (payload bytes included). */
const comparable = (frames: ReadonlyArray<MediaFrame>) =>
  frames.map((f) => ({ ...f, payload: Buffer.from(f.payload).toString("hex") }))

/**
 * Checks frames against ffprobe: per-kind counts (config records and the end of sequence are not packets),
 * dts, cts, keyframes.
 */
const checkAgainstProbe = (frames: ReadonlyArray<MediaFrame>, probe: ReadonlyArray<ProbePacket>) => {
  for (const kind of ["video", "audio"] as const) {
    const ours = frames.filter((f) => f.kind === kind && !f.config && f.endOfSequence !== true)
    const theirs = probe.filter((p) => p.codec_type === kind)
    assert.strictEqual(ours.length, theirs.length, `${kind} frame count`)
    assert.isAbove(ours.length, 10)
    assert.deepStrictEqual(ours.map((f) => f.dts), theirs.map((p) => p.dts), `${kind} dts`)
    assert.deepStrictEqual(ours.map((f) => f.cts), theirs.map((p) => p.pts - p.dts), `${kind} cts`)
    assert.deepStrictEqual(ours.map((f) => f.keyframe), theirs.map((p) => p.flags.startsWith("K")), `${kind} keyframes`)
  }
}

describe("FlvDemuxer", () => {
  it.effect("an ffmpeg H.264/AAC file: the frames ffprobe sees, with their dts, cts and keyframes", () =>
    Effect.gen(function*() {
      const frames = yield* demuxBytes(plain)
      checkAgainstProbe(frames, plainProbe)
      const video = frames.filter((f) => f.kind === "video" && !f.config && f.endOfSequence !== true)
      assert.isTrue(video.some((f) => f.cts > 0), "B-frames give non-zero composition times")
      assert.isTrue(video.filter((f) => f.keyframe).length >= 2, "a keyframe every 30 frames")
      assert.isTrue(video.every((f) => f.codec === "avc"))
      const audio = frames.filter((f) => f.kind === "audio")
      assert.isTrue(audio.every((f) => f.codec === "aac" && f.audioFlags === 0xaf))
    }))

  it.effect("the first frames are onMetaData and the codec configuration records", () =>
    Effect.gen(function*() {
      const frames = yield* demuxBytes(plain)
      const [meta, videoConfig, audioConfig] = frames
      assert.strictEqual(meta!.kind, "data")
      assert.strictEqual(meta!.codec, "amf0")
      assert.strictEqual(Buffer.from(meta!.payload.subarray(3, 13)).toString("latin1"), "onMetaData")
      assert.deepInclude(videoConfig!, { kind: "video", codec: "avc", config: true, keyframe: true, cts: 0 })
      assert.strictEqual(videoConfig!.payload[0], 1, "AVCDecoderConfigurationRecord version 1")
      assert.deepInclude(audioConfig!, { kind: "audio", codec: "aac", config: true })
      assert.strictEqual(audioConfig!.payload[0]! >> 3, 2, "AudioSpecificConfig of AAC-LC (object type 2)")
      assert.strictEqual(frames.filter((f) => f.config).length, 2)
      // The end-of-sequence tag ffmpeg writes last is forwarded, as an empty endOfSequence frame
      const tags = rawTags(plain)
      assert.deepStrictEqual(Array.from(tags.at(-1)!.body), [0x17, 2, 0, 0, 0])
      assert.strictEqual(frames.length, tags.length)
      assert.deepInclude(frames.at(-1)!, { kind: "video", codec: "avc", endOfSequence: true, config: false, keyframe: true })
      assert.strictEqual(frames.at(-1)!.payload.length, 0)
      assert.strictEqual(frames.filter((f) => f.endOfSequence === true).length, 1)
    }))

  it.effect("timestamps past 0xFFFFFF ms (extended timestamp byte) are the file's own, not rebased", () =>
    Effect.gen(function*() {
      const frames = yield* demuxBytes(offset)
      checkAgainstProbe(frames, offsetProbe)
      const media = frames.filter((f) => f.kind !== "data" && !f.config && f.endOfSequence !== true)
      assert.isTrue(media.some((f) => f.dts > 0xffffff), "some timestamps use the extended byte")
      assert.isTrue(media.every((f) => f.dts > 16_770_000))
      const tags = rawTags(offset)
      assert.strictEqual(frames[0]!.dts, tags[0]!.timestamp)
    }))

  it.effect("1-byte and random-size chunks give the same frames as one chunk", () =>
    Effect.gen(function*() {
      const whole = comparable(yield* demuxBytes(plain))
      for (const seed of [1, 2, 3]) {
        const chunks = randomChunks(plain, seed, 9000)
        assert.deepStrictEqual(comparable(yield* demuxChunks(chunks)), whole, `seed ${seed}`)
        // Several chunks per input batch
        assert.deepStrictEqual(comparable(yield* demuxChunks(chunks, { chunkSize: 7 })), whole, `seed ${seed}, batches`)
      }
      const offsetWhole = comparable(yield* demuxBytes(offset))
      const bytes = Array.from({ length: offset.length }, (_, i) => offset.slice(i, i + 1))
      assert.deepStrictEqual(comparable(yield* demuxChunks(bytes)), offsetWhole, "1-byte chunks")
    }))

  it("the sync decoder, fed 1 byte at a time, decodes each frame as soon as its tag is complete", () => {
    const expected = rawTags(plain)
    const decoder = new FlvDecoder("test.flv")
    const frames: Array<MediaFrame> = []
    const doneAt: Array<number> = []
    for (let i = 0; i < plain.length; i++) {
      decoder.push(plain.subarray(i, i + 1))
      const before = frames.length
      const status = decoder.decode(frames)
      if (status !== NeedInput) assert.fail(`at byte ${i}: ${String(status)}`)
      for (let k = before; k < frames.length; k++) doneAt.push(i + 1)
    }
    decoder.end()
    assert.strictEqual(decoder.decode(frames), End)
    assert.strictEqual(frames.length, expected.length)
    // Each frame was out once the last byte of its tag body arrived
    for (let k = 0; k < frames.length; k++) {
      assert.strictEqual(doneAt[k], expected[k]!.offset + 11 + expected[k]!.body.length)
    }
  })

  it.effect("payloads are subarrays of the input chunk, copied only for tags that span chunks", () =>
    Effect.gen(function*() {
      const input = plain.slice()
      const frames = yield* demuxBytes(input)
      assert.isTrue(frames.every((f) => f.payload.buffer === input.buffer))
      // Two chunks split inside the 5th tag's body: every other tag is not copied
      const tags = rawTags(input)
      const cut = tags[4]!.offset + 20
      const first = input.slice(0, cut)
      const second = input.slice(cut)
      const split = yield* demuxChunks([first, second])
      split.forEach((f, i) => {
        const expected = i < 4 ? first.buffer : i === 4 ? undefined : second.buffer
        if (expected === undefined) {
          assert.isTrue(f.payload.buffer !== first.buffer && f.payload.buffer !== second.buffer)
        } else {
          assert.strictEqual(f.payload.buffer, expected, `frame ${i}`)
        }
      })
    }))

  it.effect("a truncated file: the complete frames, then InvalidMedia at the cut tag's offset", () =>
    Effect.gen(function*() {
      const tags = rawTags(plain)
      const tag = tags[10]!
      const { error, frames } = yield* demuxError(randomChunks(plain.subarray(0, tag.offset + 30), 7, 4000))
      assert.strictEqual(frames.length, 10)
      assert.strictEqual(error.offset, tag.offset)
      assert.match(error.reason, /truncated FLV tag/)
      assert.strictEqual(error.source, "test.flv")
      assert.match(error.message, new RegExp(`test\\.flv at byte ${tag.offset}`))
      // Cut inside a tag header
      const header = yield* demuxError([plain.subarray(0, tag.offset + 5)])
      assert.match(header.error.reason, /truncated FLV tag header/)
      assert.strictEqual(header.error.offset, tag.offset)
      // Cut inside the file header
      const fileHeader = yield* demuxError([plain.subarray(0, 5)])
      assert.match(fileHeader.error.reason, /truncated FLV header/)
      assert.strictEqual(fileHeader.error.offset, 0)
    }))

  it.effect("a file cut right after a tag body (without the last PreviousTagSize) is complete", () =>
    Effect.gen(function*() {
      const tags = rawTags(plain)
      const tag = tags[10]!
      const frames = yield* demuxBytes(plain.subarray(0, tag.offset + 11 + tag.body.length))
      assert.strictEqual(frames.length, 11)
    }))

  it.effect("not FLV, or empty: InvalidMedia", () =>
    Effect.gen(function*() {
      const png = yield* demuxError([Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0])])
      assert.strictEqual(png.error.reason, "not an FLV file (no \"FLV\" signature)")
      assert.strictEqual(png.error.offset, 0)
      // Reported from the first wrong byte, without waiting for more input
      const decoder = new FlvDecoder("stdin")
      decoder.push(new TextEncoder().encode("FL"))
      assert.strictEqual(decoder.decode([]), NeedInput)
      decoder.push(new TextEncoder().encode("X"))
      assert.instanceOf(decoder.decode([]), InvalidMedia)
      const empty = yield* demuxError([])
      assert.match(empty.error.reason, /empty input \(0 bytes\)/)
    }))

  it.effect("hand-made tags: DataOffset, zero-length tags, signed cts, MP3, end of sequence, command frames", () =>
    Effect.gen(function*() {
      const file = buildFlv([
        { type: 18, timestamp: 0, body: [2, 0, 1, 0x61, 5] },
        { type: 9, timestamp: 0, body: [] },
        { type: 8, timestamp: 5, body: [] },
        { type: 9, timestamp: 10, body: [0x27, 1, 0xff, 0xff, 0xfe, 0xaa] },
        { type: 9, timestamp: 20, body: [0x57, 0] },
        { type: 8, timestamp: 0x1234_5678, body: [0x2e, 0xff, 0xfb] },
        { type: 7, timestamp: 25, body: [1, 2, 3] },
        { type: 9, timestamp: 30, body: [0x17, 2, 0, 0, 0] }
      ], { dataOffset: 13 })
      const frames = yield* demuxChunks(randomChunks(file, 5, 3))
      assert.deepStrictEqual(comparable(frames), [
        {
          kind: "data", codec: "amf0", dts: 0, cts: 0, keyframe: false, config: false, payload: "0200016105",
          audioFlags: undefined
        },
        { kind: "video", codec: "avc", dts: 10, cts: -2, keyframe: false, config: false, payload: "aa", audioFlags: undefined },
        { kind: "audio", codec: "mp3", dts: 0x1234_5678, cts: 0, keyframe: true, config: false, payload: "fffb", audioFlags: 0x2e },
        {
          kind: "video", codec: "avc", dts: 30, cts: 0, keyframe: true, config: false, payload: "", audioFlags: undefined,
          endOfSequence: true
        }
      ])
    }))

  it.effect("unsupported codecs, legacy and Enhanced RTMP: InvalidMedia naming the codec", () =>
    Effect.gen(function*() {
      const vp6 = buildFlv([{ type: 9, timestamp: 0, body: [0x14, 0, 0] }])
      const a = yield* demuxError([vp6])
      assert.match(a.error.reason, /unsupported video codec On2 VP6 \(FLV CodecID 4\)/)
      assert.strictEqual(a.error.offset, 13)
      // FourCC "hev1" is not an Enhanced RTMP FourCC ("hvc1" is)
      const hev1 = buildFlv([{ type: 9, timestamp: 0, body: [0x90, 0x68, 0x65, 0x76, 0x31, 1] }])
      const b = yield* demuxError([hev1])
      assert.match(b.error.reason, /unsupported video codec: Enhanced RTMP FourCC "hev1"/)
      const exAudio = buildFlv([{ type: 8, timestamp: 0, body: [0x91, 0x76, 0x6f, 0x72, 0x62, 7] }])
      const c = yield* demuxError([exAudio])
      assert.match(c.error.reason, /unsupported audio codec: Enhanced RTMP FourCC "vorb"/)
      const encrypted = buildFlv([{ type: 0x20 | 9, timestamp: 0, body: [0x17, 1, 0, 0, 0] }])
      const d = yield* demuxError([encrypted])
      assert.match(d.error.reason, /encrypted/)
    }))

  it.effect("MediaSource.frames reads a path; a missing file is InvalidMedia naming it", () =>
    Effect.gen(function*() {
      const frames = yield* Stream.runCollect(MediaSource.frames(plainFile))
      assert.deepStrictEqual(comparable(frames), comparable(yield* demuxBytes(plain)))
      const missing = path.join(path.dirname(plainFile), "missing.flv")
      const error = yield* Effect.flip(Stream.runDrain(MediaSource.frames(missing)))
      assert.instanceOf(error, InvalidMedia)
      assert.strictEqual(error.source, missing)
      assert.strictEqual(error.reason, "no such file")
      const dir = yield* Effect.flip(Stream.runDrain(MediaSource.fromFile(path.dirname(plainFile))))
      assert.strictEqual(dir.reason, "is a directory, not a file")
    }))

  it("MediaSource.frames(\"-\") reads stdin (a child process fed through a pipe)", () => {
    const script = [
      `import * as Effect from "effect/Effect"`,
      `import * as Stream from "effect/Stream"`,
      `import * as MediaSource from ${JSON.stringify(path.resolve(import.meta.dirname, "../src/MediaSource.ts"))}`,
      `const frames = await Effect.runPromise(Stream.runCollect(MediaSource.frames("-")))`,
      `console.log(JSON.stringify(frames.map((f) => [f.kind, f.dts, f.payload.length])))`
    ].join("\n")
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      input: plain,
      cwd: path.resolve(import.meta.dirname, ".."),
      encoding: "utf8"
    })
    const expected = rawTags(plain).map((t) => t.timestamp)
    const got = JSON.parse(out) as Array<[string, number, number]>
    assert.deepStrictEqual(got.map(([, dts]) => dts), expected)
  })
})
