/**
 * Enhanced RTMP end to end: MP4s of HEVC, AV1 and VP9 video with Opus audio (and H.264/AAC for the legacy
 * path), made by ffmpeg, published with the CLI to node-media-server (which speaks Enhanced RTMP and
 * records Enhanced FLV). What the server recorded is read back with the project's own `FlvDemuxer`
 * (ffmpeg 5.1 cannot read Enhanced FLV), each video track turned into an elementary stream ffmpeg reads
 * (HEVC Annex B, AV1 and VP9 in IVF) and decoded: every decoded picture equals the source's, without a
 * decode error. Opus packets and their OpusHead are compared byte for byte with the source's, and every
 * timestamp (dts, and pts through the composition time) with one offset for all tracks. The legacy
 * H.264/AAC recording, which ffmpeg reads, is compared packet by packet with `framemd5`.
 */
import { FlvDemuxer, type MediaFrame, MediaSource } from "@effect-rtmp/core"
import { Effect, Stream } from "effect"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  comparePacketStreams,
  framemd5Packets,
  makeTempDir,
  type NodeMediaServerInstance,
  type PacketStream,
  readFlv,
  removeTempDir,
  runChecked,
  runCli,
  startNodeMediaServer
} from "./support/index.ts"
import { decodedFrameMd5s, hevcAnnexB, ivf, writeFile } from "./support/elementary.ts"

const quiet = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
const size = { width: 256, height: 144 }
const videoIn = ["-f", "lavfi", "-i", `testsrc2=size=${size.width}x${size.height}:rate=30`]
const audioIn = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-ac", "2"]
const common = ["-t", "2", "-g", "30"]

const sources = {
  hevc: ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error:bframes=2:keyint=30", "-tag:v", "hvc1"],
  av1: ["-c:v", "libsvtav1", "-preset", "12", "-svtav1-params", "lp=1"],
  vp9: ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"],
  avc: ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2"]
} as const
type Source = keyof typeof sources

let work: string
let nms: NodeMediaServerInstance
const files: Partial<Record<Source, string>> = {}

/** Fails loudly when ffmpeg lacks an encoder these tests need. */
const requireEncoders = async (names: ReadonlyArray<string>) => {
  const { stdout } = await runChecked("ffmpeg", ["-hide_banner", "-encoders"])
  const missing = names.filter((n) => !new RegExp(`^ \\S{6} ${n} `, "m").test(stdout))
  if (missing.length > 0) {
    throw new Error(`ffmpeg has no ${missing.join(", ")} encoder(s), which the Enhanced RTMP tests need (apt-get install ffmpeg)`)
  }
}

beforeAll(async () => {
  work = await makeTempDir("enhanced-nms")
  await requireEncoders(["libx265", "libsvtav1", "libvpx-vp9", "libopus", "libx264", "aac"])
  const make = async (source: Source) => {
    const file = path.join(work, `${source}.mp4`)
    const audio = source === "avc" ? ["-c:a", "aac"] : ["-c:a", "libopus", "-b:a", "64k"]
    await runChecked("ffmpeg", [...quiet, ...videoIn, ...audioIn, ...common, ...sources[source], ...audio, file], {
      timeoutMs: 60_000
    })
    files[source] = file
  }
  const results = await Promise.allSettled([
    startNodeMediaServer().then((s) => (nms = s)),
    ...(Object.keys(sources) as Array<Source>).map(make)
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
})

afterAll(async () => {
  await nms?.stop()
  if (work) await removeTempDir(work)
})

/** Publishes a file with the CLI to node-media-server; returns the recording. */
const publish = async (file: string, key: string): Promise<string> => {
  const run = await runCli(["publish", file, nms.url(key), "--json"])
  expect(run.code, run.stderr).toBe(0)
  expect(run.summary).toMatchObject({ status: "ok", attempts: 1 })
  return nms.waitForRecording(key)
}

/** Every frame of a recording, read with the project's FlvDemuxer. */
const readRecording = (file: string): Promise<ReadonlyArray<MediaFrame>> =>
  Effect.runPromise(Stream.runCollect(MediaSource.fromFile(file).pipe(FlvDemuxer.demux(file))))

/** A stream's packets with timestamps in milliseconds, rounded as the MP4 demuxer does. */
const inMilliseconds = (stream: PacketStream): PacketStream => {
  const [num, den] = stream.timeBase.split("/").map(Number) as [number, number]
  const ms = (t: number) => Math.round((t * 1000 * num) / den)
  return {
    ...stream,
    timeBase: "1/1000",
    packets: stream.packets.map((p) => ({ ...p, dts: ms(p.dts), pts: ms(p.pts), duration: 0 }))
  }
}

const md5 = async (bytes: Uint8Array): Promise<string> =>
  (await import("node:crypto")).createHash("md5").update(bytes).digest("hex")

const enhanced: ReadonlyArray<{
  readonly source: Source
  readonly codec: string
  readonly fourCc: string
  readonly elementary: (frames: ReadonlyArray<MediaFrame>) => { bytes: Uint8Array; format: string; ext: string }
}> = [
  { source: "hevc", codec: "hevc", fourCc: "hvc1", elementary: (f) => ({ bytes: hevcAnnexB(f), format: "hevc", ext: "h265" }) },
  { source: "av1", codec: "av1", fourCc: "av01", elementary: (f) => ({ bytes: ivf("AV01", size, f), format: "ivf", ext: "ivf" }) },
  { source: "vp9", codec: "vp9", fourCc: "vp09", elementary: (f) => ({ bytes: ivf("VP90", size, f), format: "ivf", ext: "ivf" }) }
]

describe("Enhanced RTMP to node-media-server: MP4 sources, the recording decodes to the source's pictures", () => {
  for (const { codec, elementary, fourCc, source } of enhanced) {
    it(`${codec} + Opus`, async () => {
      const file = files[source]!
      const recording = await publish(file, `enhanced_${codec}`)
      const frames = await readRecording(recording)
      const video = frames.filter((f) => f.kind === "video")
      const audio = frames.filter((f) => f.kind === "audio")
      expect(new Set(video.map((f) => f.codec))).toEqual(new Set([codec]))
      expect(new Set(audio.map((f) => f.codec))).toEqual(new Set(["opus"]))

      // On disk: Enhanced FLV tags (ExVideoTagHeader / ExAudioTagHeader with the FourCC), read by the
      // test's own FLV reader
      const tags = (await readFlv(recording)).tags
      const videoTags = tags.filter((t) => t.track === "video")
      const audioTags = tags.filter((t) => t.track === "audio")
      expect(videoTags.length).toBeGreaterThan(60)
      expect(videoTags.every((t) => (t.body[0]! & 0x80) !== 0 && t.body.toString("latin1", 1, 5) === fourCc)).toBe(true)
      expect(audioTags.every((t) => t.body[0]! >> 4 === 9 && t.body.toString("latin1", 1, 5) === "Opus")).toBe(true)

      // Video: decoded picture by picture, the recording and the source give the same frames, no error
      const { bytes, ext, format } = elementary(video)
      const stream = await writeFile(path.join(work, `${codec}-recorded.${ext}`), bytes)
      const [recorded, original] = await Promise.all([
        decodedFrameMd5s(stream, "v", format),
        decodedFrameMd5s(file, "v")
      ])
      expect(original.errors).toBe("")
      expect(recorded.errors).toBe("")
      expect(recorded.code).toBe(0)
      expect(original.md5s.length).toBe(60)
      expect(recorded.md5s).toEqual(original.md5s)

      // Packets and timestamps against what ffmpeg reads from the source (framemd5 of the packets)
      const [sourceVideo, sourceAudio] = ["video", "audio"].map((type) =>
        framemd5Packets(file).then((s) => inMilliseconds(s.find((x) => x.mediaType === type)!))
      )
      const sv = await sourceVideo!
      const sa = await sourceAudio!
      const videoFrames = video.filter((f) => !f.config)
      const audioFrames = audio.filter((f) => !f.config)
      expect(await Promise.all(videoFrames.map((f) => md5(f.payload)))).toEqual(sv.packets.map((p) => p.md5))
      expect(await Promise.all(audioFrames.map((f) => md5(f.payload)))).toEqual(sa.packets.map((p) => p.md5))
      // The OpusHead sent as sequence start is the source's extradata
      const heads = new Set(await Promise.all(audio.filter((f) => f.config).map((f) => md5(f.payload))))
      expect([...heads]).toEqual([sa.extradataMd5])
      // One timestamp offset for every packet of both tracks (the demuxer's shift; the server's own)
      const offset = videoFrames[0]!.dts - sv.packets[0]!.dts
      expect(videoFrames.map((f) => [f.dts - offset, f.dts + f.cts - offset])).toEqual(
        sv.packets.map((p) => [p.dts, p.pts])
      )
      expect(audioFrames.map((f) => f.dts - offset)).toEqual(sa.packets.map((p) => p.dts))
    })
  }
})

describe("legacy H.264/AAC from MP4 to node-media-server", () => {
  it("the recording carries the source's packets, timestamps included", async () => {
    const file = files.avc!
    const recording = await publish(file, "legacy_avc")
    const [expected, actual] = await Promise.all([framemd5Packets(file), framemd5Packets(recording)])
    const comparison = comparePacketStreams(expected.map(inMilliseconds), actual, { commonOffset: true })
    expect(comparison.report).toBe("")
    expect(comparison.ok).toBe(true)
    expect(actual.find((s) => s.mediaType === "video")?.packets.length).toBe(60)
  })
})
