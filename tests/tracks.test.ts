/**
 * MP4 track selection with the CLI (`--track`, `--all-tracks`): an MP4 made by ffmpeg with one H.264 video
 * and two AAC audio tracks (two "languages"), published to node-media-server. With `--all-tracks` the
 * second audio track goes as Enhanced RTMP multitrack (track 1); the session lasts to the end: every frame
 * of the three tracks is sent, the CLI exits 0 after one attempt, and the recording holds the last frames.
 * With `--track` only the chosen tracks go out; an id the file lacks is invalid input (exit 3).
 */
import { FlvDemuxer, type MediaFrame, MediaSource } from "@effect-rtmp/core"
import { Effect, Stream } from "effect"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  makeTempDir,
  type NodeMediaServerInstance,
  removeTempDir,
  runChecked,
  runCli,
  startNodeMediaServer
} from "./support/index.ts"

const quiet = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]

let work: string
let nms: NodeMediaServerInstance
let file: string
/** Per stream, as ffprobe reports it: the MP4 track id and the packet count. */
let streams: ReadonlyArray<{ readonly id: number; readonly type: string; readonly packets: number }>

beforeAll(async () => {
  work = await makeTempDir("tracks")
  file = path.join(work, "tracks.mp4")
  const make = runChecked("ffmpeg", [
    ...quiet,
    ...["-f", "lavfi", "-i", "testsrc2=size=256x144:rate=30"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
    ...["-f", "lavfi", "-i", "sine=frequency=660:sample_rate=44100"],
    ...["-map", "0:v", "-map", "1:a", "-map", "2:a", "-t", "2", "-g", "30"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", file]
  ], { timeoutMs: 60_000 })
  const results = await Promise.allSettled([startNodeMediaServer().then((s) => (nms = s)), make])
  for (const r of results) if (r.status === "rejected") throw r.reason
  const { stdout } = await runChecked("ffprobe", [
    "-v",
    "error",
    "-count_packets",
    "-show_entries",
    "stream=id,codec_type,nb_read_packets",
    "-of",
    "json",
    file
  ])
  const parsed = JSON.parse(stdout) as {
    streams: ReadonlyArray<{ id: string; codec_type: string; nb_read_packets: string }>
  }
  streams = parsed.streams.map((s) => ({ id: Number(s.id), type: s.codec_type, packets: Number(s.nb_read_packets) }))
}, 120_000)

afterAll(async () => {
  await nms?.stop()
  if (work) await removeTempDir(work)
})

const readRecording = (recording: string): Promise<ReadonlyArray<MediaFrame>> =>
  Effect.runPromise(Stream.runCollect(MediaSource.fromFile(recording).pipe(FlvDemuxer.demux(recording))))

/** What the CLI sends for these streams: onMetaData, one AAC/AVC config per track, every packet. */
const framesOf = (selected: typeof streams): number => 1 + selected.reduce((n, s) => n + 1 + s.packets, 0)

describe("MP4 track selection to node-media-server", { timeout: 60_000 }, () => {
  it("the file has one H.264 video and two AAC audio tracks", () => {
    expect(streams.map((s) => s.type)).toEqual(["video", "audio", "audio"])
    expect(new Set(streams.map((s) => s.id)).size).toBe(3)
    expect(streams[0]!.packets).toBe(60)
  })

  it("--all-tracks: every frame of the three tracks, the second audio track as multitrack, one session", async () => {
    const run = await runCli(["publish", file, nms.url("all_tracks"), "--all-tracks", "--json"])
    expect(run.code, run.stderr).toBe(0)
    expect(run.summary).toMatchObject({ status: "ok", attempts: 1, reconnects: 0, frames: framesOf(streams) })
    const recording = await nms.waitForRecording("all_tracks")
    const done = nms.events().filter((e) => e.streamPath === "/live/all_tracks")
    expect(done.filter((e) => e.event === "postPublish")).toHaveLength(1)
    expect(done.filter((e) => e.event === "donePublish")).toHaveLength(1)
    // The server took the stream to its end: the recording holds every frame of the three tracks, the
    // second audio track as track 1 (node-media-server records the multitrack messages as they came)
    const frames = await readRecording(recording)
    const video = frames.filter((f) => f.kind === "video" && !f.config)
    const audio0 = frames.filter((f) => f.kind === "audio" && !f.config && (f.track ?? 0) === 0)
    expect(video).toHaveLength(streams[0]!.packets)
    expect(audio0).toHaveLength(streams[1]!.packets)
    const audio1 = frames.filter((f) => f.kind === "audio" && !f.config && f.track === 1)
    expect(audio1).toHaveLength(streams[2]!.packets)
    expect(new Set(audio1.map((f) => f.codec))).toEqual(new Set(["aac"]))
  })

  it("--track <video> --track <first audio>: only those tracks", async () => {
    const [video, audio] = streams
    const run = await runCli([
      "publish",
      file,
      nms.url("two_tracks"),
      "--track",
      String(video!.id),
      "--track",
      String(audio!.id),
      "--json"
    ])
    expect(run.code, run.stderr).toBe(0)
    expect(run.summary).toMatchObject({ status: "ok", attempts: 1, frames: framesOf([video!, audio!]) })
  })

  it("--track of the second audio track alone: it is the default audio track then", async () => {
    const run = await runCli(["publish", file, nms.url("second_audio"), "--track", String(streams[2]!.id), "--json"])
    expect(run.code, run.stderr).toBe(0)
    expect(run.summary).toMatchObject({ status: "ok", frames: framesOf([streams[2]!]) })
  })

  it("a track id the file lacks: InvalidMedia, exit 3, nothing published", async () => {
    const run = await runCli(["publish", file, nms.url("no_track"), "--track", "42", "--json"])
    expect(run.code, run.stderr).toBe(3)
    expect(run.summary).toMatchObject({ status: "failed", frames: 0, error: { _tag: "InvalidMedia" } })
    expect(JSON.stringify(run.summary)).toMatch(/no track with id 42/)
  })

  it("--track with --all-tracks: a usage error, exit 2", async () => {
    const run = await runCli(["publish", file, nms.url("both"), "--track", "1", "--all-tracks", "--json"])
    expect(run.code, run.stderr).toBe(2)
    expect(run.summary).toMatchObject({ status: "failed", error: { _tag: "InvalidUsage" } })
  })
})
