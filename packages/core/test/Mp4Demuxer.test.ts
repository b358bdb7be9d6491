import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { End, Mp4Decoder, NeedInput } from "../src/internal/mp4Decoder.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as MediaSource from "../src/MediaSource.ts"
import * as Mp4Demuxer from "../src/Mp4Demuxer.ts"
import { InvalidMedia } from "../src/RtmpError.ts"
import { randomChunks } from "./flvFixtures.ts"
import {
  findBoxes,
  type FrameMd5,
  frameMd5,
  makeFixtures,
  mapBoxes,
  parseBoxes,
  type Probe,
  probe,
  tempDir,
  writeBoxes
} from "./mp4Fixtures.ts"

let files: Awaited<ReturnType<typeof makeFixtures>>
/** What ffprobe and framemd5 say of each fixture. */
const oracles = new Map<string, { readonly probe: Probe; readonly md5: FrameMd5 }>()

beforeAll(async () => {
  files = await makeFixtures()
  const media = Object.values(files).filter((f) => f !== files.mpeg4)
  await Promise.all(media.map(async (file) => {
    const [p, m] = await Promise.all([probe(file), frameMd5(file)])
    oracles.set(file, { probe: p, md5: m })
  }))
})

const md5 = (bytes: Uint8Array): string => createHash("md5").update(bytes).digest("hex")
const read = (file: string): Uint8Array => new Uint8Array(fs.readFileSync(file))

const all = { tracks: "all" } as const

const demuxFile = (file: string, options: Mp4Demuxer.Options = all) =>
  Stream.runCollect(Mp4Demuxer.demuxFile(file, options))

const demuxChunks = (chunks: ReadonlyArray<Uint8Array>, options: Mp4Demuxer.Options = all, chunkSize = 1) =>
  Stream.fromIterable(chunks, { chunkSize }).pipe(Mp4Demuxer.demux("test.mp4", options), Stream.runCollect)

const failure = <A>(stream: Stream.Stream<A, InvalidMedia>) =>
  Effect.gen(function*() {
    const items: Array<A> = []
    const error = yield* stream.pipe(Stream.runForEach((a) => Effect.sync(() => items.push(a))), Effect.flip)
    assert.instanceOf(error, InvalidMedia)
    return { error, items }
  })

/** Frames as plain comparable values (payload as its MD5). */
const comparable = (frames: ReadonlyArray<MediaFrame>) => frames.map((f) => ({ ...f, payload: md5(f.payload) }))

/** The frames of one track (by kind and `track` number), in output order. */
const ofTrack = (frames: ReadonlyArray<MediaFrame>, kind: string, track: number) =>
  frames.filter((f) => f.kind === kind && (f.track ?? 0) === track)

/**
 * Checks frames against ffprobe and `ffmpeg -f framemd5`, stream by stream (ffprobe stream i is the i-th
 * trak, our track number the index among the selected tracks of its kind): the packet count, dts and
 * pts in ms (plus the shift that makes the earliest dts 0), keyframes, sizes and payload MD5s; exactly one
 * configuration record per track, before its first frame. Returns the streams for further checks.
 */
const checkAgainstFfmpeg = (file: string, frames: ReadonlyArray<MediaFrame>, streamIndexes?: ReadonlyArray<number>) => {
  const { probe: { packets, streams }, md5: hashes } = oracles.get(file)!
  const selected = streams.filter((s) => streamIndexes === undefined || streamIndexes.includes(s.index))
  const timescale = (index: number) => {
    const [num, den] = streams[index]!.time_base.split("/").map(Number)
    assert.strictEqual(num, 1)
    return den!
  }
  const ms = (index: number, t: number) => Math.round((t * 1000) / timescale(index))
  let earliest = 0
  for (const s of selected) {
    const first = packets.find((p) => p.stream_index === s.index)
    if (first !== undefined) earliest = Math.min(earliest, ms(s.index, first.dts))
  }
  const shift = -earliest
  const counts: Record<string, number> = { video: 0, audio: 0 }
  const checked = selected.map((s) => {
    const number = counts[s.codec_type]!++
    const theirs = packets.filter((p) => p.stream_index === s.index)
    const track = ofTrack(frames, s.codec_type, number)
    const ours = track.filter((f) => !f.config)
    const what = `stream ${s.index} (${s.codec_name})`
    assert.strictEqual(ours.length, theirs.length, `${what}: frame count`)
    assert.isAbove(ours.length, 10, what)
    assert.deepStrictEqual(ours.map((f) => f.dts), theirs.map((p) => ms(s.index, p.dts) + shift), `${what}: dts`)
    assert.deepStrictEqual(
      ours.map((f) => f.cts),
      theirs.map((p) => ms(s.index, p.pts) - ms(s.index, p.dts)),
      `${what}: cts`
    )
    assert.deepStrictEqual(ours.map((f) => f.keyframe), theirs.map((p) => p.flags.startsWith("K")), `${what}: keyframes`)
    assert.deepStrictEqual(ours.map((f) => f.payload.length), theirs.map((p) => Number(p.size)), `${what}: sizes`)
    assert.deepStrictEqual(ours.map((f) => md5(f.payload)), hashes.packets.get(s.index)!.map((h) => h.md5), `${what}: MD5s`)
    const configs = track.filter((f) => f.config)
    if (configs.length > 0) {
      assert.strictEqual(configs.length, 1, `${what}: one configuration record`)
      assert.isTrue(track[0]!.config, `${what}: the configuration record comes first`)
      assert.isTrue(configs[0]!.keyframe)
      assert.strictEqual(configs[0]!.cts, 0)
    }
    return { stream: s, number, config: configs[0], extradata: hashes.extradata.get(s.index) }
  })
  return checked
}

/** The configuration record is the codec's extradata for FFmpeg (same bytes, same MD5). */
const assertConfigIsExtradata = (checked: ReturnType<typeof checkAgainstFfmpeg>[number]) => {
  assert.isDefined(checked.config, `stream ${checked.stream.index}: a configuration record`)
  assert.isDefined(checked.extradata, `stream ${checked.stream.index}: ffmpeg's extradata`)
  assert.strictEqual(checked.config!.payload.length, checked.extradata!.size)
  assert.strictEqual(md5(checked.config!.payload), checked.extradata!.md5)
}

const assertDtsNonDecreasing = (frames: ReadonlyArray<MediaFrame>) => {
  for (let i = 1; i < frames.length; i++) {
    assert.isAtLeast(frames[i]!.dts, frames[i - 1]!.dts, `frame ${i}: dts in decode order across tracks`)
  }
}

describe("Mp4Demuxer", () => {
  it.effect("H.264 with B-frames + two AAC tracks, moov at the end: every packet, interleaved by dts", () =>
    Effect.gen(function*() {
      const frames = yield* demuxFile(files.avc)
      const checked = checkAgainstFfmpeg(files.avc, frames)
      assert.deepStrictEqual(checked.map((c) => [c.stream.codec_name, c.number]), [["h264", 0], ["aac", 0], ["aac", 1]])
      for (const c of checked) assertConfigIsExtradata(c)
      // The configuration records first, then the frames in decode order across tracks
      assert.deepStrictEqual(
        frames.slice(0, 3).map((f) => [f.codec, f.track, f.config, f.dts]),
        [["avc", 0, true, 0], ["aac", 0, true, 0], ["aac", 1, true, 0]]
      )
      assertDtsNonDecreasing(frames)
      const video = ofTrack(frames, "video", 0).filter((f) => !f.config)
      assert.isTrue(video.some((f) => f.cts > 0), "B-frames: composition offsets")
      assert.strictEqual(video.filter((f) => f.keyframe).length, 2)
      // The edit list puts the first picture at 0 and the first dts before it: everything moves 67 ms later
      assert.deepInclude(video[0]!, { dts: 0, cts: 67, keyframe: true })
      assert.isTrue(frames.every((f) => f.dts >= 0))
    }))

  it.effect("moov first (+faststart) gives the same frames; from a stream, in file order", () =>
    Effect.gen(function*() {
      const atEnd = comparable(yield* demuxFile(files.avc))
      assert.deepStrictEqual(comparable(yield* demuxFile(files.avcFaststart)), atEnd)
      // From a byte stream: the same frames per track, in file order
      const bytes = read(files.avcFaststart)
      const streamed = yield* demuxChunks(randomChunks(bytes, 1, 9000))
      checkAgainstFfmpeg(files.avcFaststart, streamed)
      assert.deepStrictEqual(comparable(streamed.slice(0, 3)), atEnd.slice(0, 3), "configuration records first")
      for (const [kind, n] of [["video", 0], ["audio", 0], ["audio", 1]] as const) {
        assert.deepStrictEqual(comparable(ofTrack(streamed, kind, n)), comparable(ofTrack(yield* demuxFile(files.avc), kind, n)))
      }
    }))

  it.effect("track selection: by default the first video and audio tracks; by id; all; an unknown id fails", () =>
    Effect.gen(function*() {
      const everything = yield* demuxFile(files.avc)
      const byDefault = yield* Stream.runCollect(Mp4Demuxer.demuxFile(files.avc))
      assert.deepStrictEqual(
        comparable(byDefault),
        comparable(everything.filter((f) => f.kind === "video" || (f.track ?? 0) === 0))
      )
      // Track 3 alone (the second AAC track) is the default audio track of its output: number 0. Its
      // timestamps are shifted by its own first dts only (there is no video track before it)
      const third = yield* demuxFile(files.avc, { tracks: [3] })
      assert.isTrue(third.every((f) => f.kind === "audio" && f.track === 0))
      checkAgainstFfmpeg(files.avc, third, [2])
      assert.deepStrictEqual(third.map((f) => md5(f.payload)), ofTrack(everything, "audio", 1).map((f) => md5(f.payload)))
      checkAgainstFfmpeg(files.avc, yield* demuxFile(files.avc, { tracks: [3, 1] }), [0, 2])
      const { error } = yield* failure(Mp4Demuxer.demuxFile(files.avc, { tracks: [9] }))
      assert.strictEqual(error.reason, "no track with id 9 (the file has 1 (vide), 2 (soun), 3 (soun))")
      assert.strictEqual(error.source, files.avc)
      assert.isNumber(error.offset)
    }))

  it.effect("HEVC with B-frames + Opus: hvcC, and an OpusHead made from dOps (as FFmpeg's extradata)", () =>
    Effect.gen(function*() {
      const frames = yield* demuxFile(files.hevc)
      const checked = checkAgainstFfmpeg(files.hevc, frames)
      for (const c of checked) assertConfigIsExtradata(c)
      assert.deepStrictEqual(checked.map((c) => c.config!.codec), ["hevc", "opus"])
      const head = checked[1]!.config!.payload
      assert.strictEqual(Buffer.from(head.subarray(0, 8)).toString("latin1"), "OpusHead")
      assert.strictEqual(head[8], 1, "OpusHead version 1")
      assert.strictEqual(new DataView(head.buffer, head.byteOffset).getUint16(10, true), 312, "pre-skip, little-endian")
      assert.isTrue(ofTrack(frames, "video", 0).some((f) => f.cts > 0))
      assertDtsNonDecreasing(frames)
    }))

  it.effect("AV1: av1C and temporal units", () =>
    Effect.gen(function*() {
      const frames = yield* demuxFile(files.av1)
      const [video] = checkAgainstFfmpeg(files.av1, frames)
      assertConfigIsExtradata(video!)
      assert.strictEqual(video!.config!.codec, "av1")
      assert.strictEqual(video!.config!.payload[0], 0x81, "AV1CodecConfigurationRecord marker and version")
    }))

  it.effect("VP9 + Opus, fragmented: vpcC after its FullBox header", () =>
    Effect.gen(function*() {
      const frames = yield* demuxFile(files.vp9)
      const [video, audio] = checkAgainstFfmpeg(files.vp9, frames)
      assertConfigIsExtradata(audio!)
      const bytes = read(files.vp9)
      const vpcC = findOffset(bytes, "vpcC")
      const vpcCSize = new DataView(bytes.buffer).getUint32(vpcC)
      assert.deepStrictEqual(video!.config!.payload, bytes.subarray(vpcC + 12, vpcC + vpcCSize))
      assert.strictEqual(video!.config!.codec, "vp9")
    }))

  it.effect("fragmented (frag_keyframe+empty_moov): a file, a stream in any chunking, byte by byte", () =>
    Effect.gen(function*() {
      const frames = yield* demuxFile(files.avcFragmented)
      const checked = checkAgainstFfmpeg(files.avcFragmented, frames)
      for (const c of checked) assertConfigIsExtradata(c)
      const bytes = read(files.avcFragmented)
      const whole = comparable(frames)
      assert.deepStrictEqual(comparable(yield* demuxChunks([bytes])), whole)
      for (const seed of [1, 2]) {
        assert.deepStrictEqual(comparable(yield* demuxChunks(randomChunks(bytes, seed, 5000), all, 7)), whole)
      }
      // Each fragment's frames are interleaved by dts: a moof holds the video, then the audio
      const moofs = findBoxes(parseBoxes(bytes), "moof").length
      assert.isAtLeast(moofs, 2)
      let decreases = 0
      for (let i = 4; i < frames.length; i++) if (frames[i]!.dts < frames[i - 1]!.dts) decreases++
      assert.isAtMost(decreases, moofs - 1, "dts goes back at most at fragment boundaries")

      // The synchronous decoder, one byte at a time
      const decoder = new Mp4Decoder("test.mp4", "all")
      const out: Array<MediaFrame> = []
      for (let i = 0; i < bytes.length; i++) {
        decoder.push(bytes.subarray(i, i + 1))
        const status = decoder.decode(out)
        if (status !== NeedInput) assert.fail(`at byte ${i}: ${String(status)}`)
      }
      decoder.end()
      assert.strictEqual(decoder.decode(out), End)
      assert.deepStrictEqual(comparable(out), whole)
    }))

  it.effect("fragmented without empty_moov: the first samples in the moov tables, then fragments", () =>
    Effect.gen(function*() {
      const frames = yield* demuxFile(files.avcFragmentedMoov)
      checkAgainstFfmpeg(files.avcFragmentedMoov, frames)
      assert.isAbove(findBoxes(parseBoxes(read(files.avcFragmentedMoov)), "stsz")[0]!.body!.length, 12)
    }))

  it.effect("AC-3, E-AC-3, MP3 and FLAC tracks; an empty edit delays a track", () =>
    Effect.gen(function*() {
      const frames = yield* demuxFile(files.audioCodecs)
      const checked = checkAgainstFfmpeg(files.audioCodecs, frames)
      assert.deepStrictEqual(checked.map((c) => [c.stream.codec_name, c.number]), [["ac3", 0], ["eac3", 1], ["mp3", 2], ["flac", 3]])
      assert.deepStrictEqual(
        [...new Set(frames.map((f) => `${f.track}:${f.codec}`))].sort(),
        ["0:ac3", "1:eac3", "2:mp3", "3:flac"]
      )
      // Configuration records: FLAC only; "fLaC", then the STREAMINFO block (FFmpeg's extradata) with its header
      assert.deepStrictEqual(checked.map((c) => c.config?.codec), [undefined, undefined, undefined, "flac"])
      const flac = checked[3]!.config!.payload
      assert.strictEqual(Buffer.from(flac.subarray(0, 4)).toString("latin1"), "fLaC")
      assert.strictEqual(flac[4]! & 0x7f, 0, "STREAMINFO block")
      assert.strictEqual(md5(flac.subarray(8)), checked[3]!.extradata!.md5)
      // The mp3 track starts 0.5 s late: ffmpeg wrote an empty edit (from the 476 ms of the audio it had)
      const mp3 = ofTrack(frames, "audio", 2)
      assert.isAtLeast(mp3[0]!.dts, 450)
      assertDtsNonDecreasing(frames)
    }))

  it.effect("MediaSource.frames picks the demuxer by content", () =>
    Effect.gen(function*() {
      // An MP4 whatever its name
      const renamed = path.join(tempDir(), "renamed.flv")
      fs.copyFileSync(files.avcFaststart, renamed)
      const frames = yield* Stream.runCollect(MediaSource.frames(renamed, all))
      assert.deepStrictEqual(comparable(frames), comparable(yield* demuxFile(files.avc)))
      // Default tracks
      assert.strictEqual(new Set((yield* Stream.runCollect(MediaSource.frames(files.avc))).map((f) => f.track)).size, 1)
      const text = path.join(tempDir(), "text.txt")
      fs.writeFileSync(text, "hello, this is not a video\n")
      const { error } = yield* failure(MediaSource.frames(text))
      assert.deepInclude(error, { source: text, reason: "not an FLV or MP4 file" })
      const empty = path.join(tempDir(), "empty.mp4")
      fs.writeFileSync(empty, "")
      assert.match((yield* failure(MediaSource.frames(empty))).error.reason, /empty input/)
      // From a byte stream (as stdin is read): sniffed across tiny chunks
      const bytes = read(files.avcFragmented)
      const sniffed = yield* Stream.fromIterable(randomChunks(bytes, 3, 7), { chunkSize: 1 }).pipe(
        MediaSource.demux("pipe", all),
        Stream.runCollect
      )
      assert.deepStrictEqual(comparable(sniffed), comparable(yield* demuxFile(files.avcFragmented)))
      const notMedia = yield* failure(
        Stream.make(new TextEncoder().encode("no")).pipe(MediaSource.demux("pipe"))
      )
      assert.strictEqual(notMedia.error.reason, "not an FLV or MP4 file")
    }))

  it.effect("MediaSource.frames(\"-\") reads a fragmented MP4 from stdin (a child process fed through a pipe)", () =>
    Effect.gen(function*() {
    const script = [
      `import * as Effect from "effect/Effect"`,
      `import * as Stream from "effect/Stream"`,
      `import * as MediaSource from ${JSON.stringify(path.resolve(import.meta.dirname, "../src/MediaSource.ts"))}`,
      `const frames = await Effect.runPromise(Stream.runCollect(MediaSource.frames("-")))`,
      `console.log(JSON.stringify(frames.map((f) => [f.kind, f.dts, f.cts, f.payload.length])))`
    ].join("\n")
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      input: read(files.avcFragmented),
      cwd: path.resolve(import.meta.dirname, ".."),
      encoding: "utf8"
    })
    const expected = yield* Stream.runCollect(Mp4Demuxer.demuxFile(files.avcFragmented))
    assert.deepStrictEqual(JSON.parse(out), expected.map((f) => [f.kind, f.dts, f.cts, f.payload.length]))
  }))

  it.effect("a stream cannot give an MP4 whose moov is at the end: a clear error (a file can)", () =>
    Effect.gen(function*() {
      const { error, items } = yield* failure(
        Stream.make(read(files.avc)).pipe(Mp4Demuxer.demux("stdin"))
      )
      assert.strictEqual(items.length, 0)
      assert.match(error.reason, /"mdat" box comes before the "moov" box/)
      assert.strictEqual(error.offset, findOffset(read(files.avc), "mdat"))
    }))

  it.effect("stz2 sample sizes and co64 chunk offsets (rewritten by hand) read the same", () =>
    Effect.gen(function*() {
      const boxes = parseBoxes(read(files.avc))
      assert.strictEqual(boxes.at(-1)!.type, "moov", "moov last: rewriting it moves no sample")
      const rewritten = mapBoxes(boxes, (box) => {
        if (box.type === "stsz") {
          const v = new DataView(box.body!.buffer, box.body!.byteOffset)
          if (v.getUint32(4) !== 0) return undefined
          const count = v.getUint32(8)
          const out = new DataView(new ArrayBuffer(12 + count * 2))
          out.setUint8(7, 16)
          out.setUint32(8, count)
          for (let i = 0; i < count; i++) out.setUint16(12 + i * 2, v.getUint32(12 + i * 4))
          return { type: "stz2", body: new Uint8Array(out.buffer) }
        }
        if (box.type === "stco") {
          const v = new DataView(box.body!.buffer, box.body!.byteOffset)
          const count = v.getUint32(4)
          const out = new DataView(new ArrayBuffer(8 + count * 8))
          out.setUint32(4, count)
          for (let i = 0; i < count; i++) out.setBigUint64(8 + i * 8, BigInt(v.getUint32(8 + i * 4)))
          return { type: "co64", body: new Uint8Array(out.buffer) }
        }
        return undefined
      })
      assert.strictEqual(findBoxes(rewritten, "stz2").length, 3)
      assert.strictEqual(findBoxes(rewritten, "co64").length, 3)
      const file = path.join(tempDir(), "stz2-co64.mp4")
      fs.writeFileSync(file, writeBoxes(rewritten))
      assert.deepStrictEqual(comparable(yield* demuxFile(file)), comparable(yield* demuxFile(files.avc)))
    }))

  it.effect("truncated files: the frames before, then InvalidMedia with the offset", () =>
    Effect.gen(function*() {
      const bytes = read(files.avcFaststart)
      const cut = path.join(tempDir(), "cut.mp4")
      fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)))
      const file = yield* failure(Mp4Demuxer.demuxFile(cut))
      assert.match(file.error.reason, /^truncated: sample \d+ of track \d \(\d+ bytes at byte \d+\) lies beyond the end of the file/)
      assert.isAbove(file.items.length, 50)
      assert.strictEqual(file.error.source, cut)
      const streamed = yield* failure(Stream.make(bytes.subarray(0, Math.floor(bytes.length * 0.6))).pipe(Mp4Demuxer.demux("cut")))
      assert.match(streamed.error.reason, /^truncated/)
      assert.isAbove(streamed.items.length, 50)

      // Fragmented: the complete fragments come out, then the error
      const fragmented = read(files.avcFragmented)
      const secondMoof = findOffset(fragmented, "moof", 2)
      const partial = yield* failure(Stream.make(fragmented.subarray(0, secondMoof + 2000)).pipe(Mp4Demuxer.demux("cut")))
      assert.match(partial.error.reason, /^truncated/)
      const whole = yield* demuxFile(files.avcFragmented)
      assert.deepStrictEqual(comparable(partial.items), comparable(whole.slice(0, partial.items.length)))
      assert.isAbove(partial.items.length, 40)

      // moov cut in the middle
      const moovCut = yield* failure(Stream.make(bytes.subarray(0, 1000)).pipe(Mp4Demuxer.demux("cut")))
      assert.match(moovCut.error.reason, /^truncated "moov" box \(\d+ of \d+ bytes\)$/)
      assert.strictEqual(moovCut.error.offset, findOffset(bytes, "moov"))
    }))

  it.effect("malformed boxes, unsupported codecs, not an MP4: InvalidMedia with a reason and offset", () =>
    Effect.gen(function*() {
      const bytes = read(files.avcFaststart).slice()
      const stts = findOffset(bytes, "stts")
      new DataView(bytes.buffer).setUint32(stts, 4)
      const bad = yield* failure(Stream.make(bytes).pipe(Mp4Demuxer.demux("bad")))
      assert.deepInclude(bad.error, { reason: "box \"stts\" of 4 bytes, smaller than its 8-byte header", offset: stts })

      const { error } = yield* failure(Mp4Demuxer.demuxFile(files.mpeg4))
      assert.match(error.reason, /^track 1: unsupported video codec "mp4v" \(MPEG-4 Part 2\)$/)

      const png = yield* failure(Stream.make(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13)).pipe(Mp4Demuxer.demux("x.png")))
      assert.match(png.error.reason, /malformed box header|not an MP4 file/)
      const empty = yield* failure(Stream.empty.pipe(Mp4Demuxer.demux("empty")))
      assert.strictEqual(empty.error.reason, "empty input (0 bytes), expected an MP4 file")
      const missing = yield* failure(Mp4Demuxer.demuxFile(path.join(tempDir(), "missing.mp4")))
      assert.strictEqual(missing.error.reason, "no such file")
    }))

  it.effect("payloads are subarrays of the input (not copies) when a sample lies in one chunk", () =>
    Effect.gen(function*() {
      const bytes = read(files.avcFragmented)
      const frames = yield* demuxChunks([bytes])
      assert.isTrue(frames.filter((f) => !f.config).every((f) => f.payload.buffer === bytes.buffer))
    }))
})

/** The offset of the `n`-th box of a type found by a plain byte search (the type's position minus 4). */
const findOffset = (bytes: Uint8Array, type: string, n = 1): number => {
  let from = 0
  for (let k = 0; k < n; k++) {
    const at = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(type, from, "latin1")
    if (at < 0) throw new Error(`no ${type}`)
    from = at + 4
    if (k === n - 1) return at - 4
  }
  throw new Error("unreachable")
}
