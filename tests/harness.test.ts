/**
 * Proves the end-to-end harness with ffmpeg as the publisher: what ffmpeg sends, each server records, and
 * the comparison helpers find the recording equal to the fixture. If this file fails, fix the environment
 * (`npm run setup:system`) before looking at any other end-to-end test.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertFlvTagsEqual,
  comparePackets,
  comparePacketStreams,
  compareContent,
  framemd5Packets,
  ffmpegPublish,
  makeCertificates,
  makeFixture,
  makeTempDir,
  readFlv,
  removeTempDir,
  runProcess,
  startNginx,
  startNodeMediaServer,
  type NginxServer,
  type NodeMediaServerInstance
} from "./support/index.ts"

let work: string
let fixture: string
let nginx: NginxServer
let nms: NodeMediaServerInstance

beforeAll(async () => {
  work = await makeTempDir("harness")
  // allSettled: whatever started is assigned (and stopped in afterAll) even when something else failed.
  const results = await Promise.allSettled([
    makeFixture({ path: path.join(work, "fixture.flv"), seconds: 3 }).then((f) => (fixture = f)),
    startNginx({ tls: true }).then((s) => (nginx = s)),
    startNodeMediaServer({ tls: true }).then((s) => (nms = s))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
})

afterAll(async () => {
  await Promise.all([nginx?.stop(), nms?.stop()])
  if (work) await removeTempDir(work)
})

describe("harness", () => {
  it("the fixture is H.264 with B-frames and AAC, config records first", async () => {
    const flv = await readFlv(fixture)
    const video = flv.tags.filter((t) => t.track === "video")
    const audio = flv.tags.filter((t) => t.track === "audio")
    expect(video[0]?.kind).toBe("config")
    expect(audio[0]?.kind).toBe("config")
    expect(video.some((t) => t.cts > 0)).toBe(true)
    expect(video.filter((t) => t.kind === "media").length).toBe(90)
  })

  it("nginx-rtmp records exactly what ffmpeg published (rtmp)", async () => {
    await ffmpegPublish(fixture, nginx.url("k1"))
    const recording = await nginx.waitForRecording("k1")
    const result = await comparePackets(fixture, recording, { commonOffset: true })
    expect(result.offsets).toEqual({ video: 0, audio: 0 })
    await assertFlvTagsEqual(fixture, recording)
  })

  it("nginx-rtmp records through the RTMPS front, verifying the test CA", async () => {
    await ffmpegPublish(fixture, nginx.tlsUrl("k2"), {
      outputArgs: ["-tls_verify", "1", "-ca_file", nginx.caFile!]
    })
    const recording = await nginx.waitForRecording("k2")
    await comparePackets(fixture, recording, { commonOffset: true })
    await assertFlvTagsEqual(fixture, recording)
  })

  it("the RTMPS front is rejected by a client that trusts another CA", async () => {
    const other = await makeCertificates(work, { prefix: "other" })
    const result = await runProcess("ffmpeg", [
      "-hide_banner", "-nostdin", "-loglevel", "error", "-i", fixture, "-c", "copy",
      "-tls_verify", "1", "-ca_file", other.caFile, "-f", "flv", nginx.tlsUrl("k3")
    ], { timeoutMs: 20_000 })
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/certificate|verif|TLS|tls/i)
    expect(await nginx.recordings()).not.toContain(nginx.recordingPath("k3"))
  })

  it("nginx-rtmp and node-media-server keep media timestamps as sent (no rebasing)", async () => {
    const shifted = await makeFixture({ path: path.join(work, "shifted.flv"), seconds: 1, outputTsOffset: 5 })
    const firstVideo = (await readFlv(shifted)).tags.find((t) => t.track === "video" && t.kind === "media")!
    expect(firstVideo.timestamp).toBeGreaterThan(4900)
    await Promise.all([ffmpegPublish(shifted, nginx.url("k4")), ffmpegPublish(shifted, nms.url("k4"))])
    for (const recording of [await nginx.waitForRecording("k4"), await nms.waitForRecording("k4")]) {
      const result = await comparePackets(shifted, recording)
      expect(result.offsets).toEqual({ video: 0, audio: 0 })
      await assertFlvTagsEqual(shifted, recording)
    }
  })

  it("node-media-server records what ffmpeg published (rtmp)", async () => {
    await ffmpegPublish(fixture, nms.url("k1"))
    const recording = await nms.waitForRecording("k1")
    const result = await comparePackets(fixture, recording)
    expect(result.offsets).toEqual({ video: 0, audio: 0 })
    await assertFlvTagsEqual(fixture, recording)
  })

  it("node-media-server records what ffmpeg published (rtmps)", async () => {
    await ffmpegPublish(fixture, nms.tlsUrl("k2"), {
      outputArgs: ["-tls_verify", "1", "-ca_file", nms.caFile!]
    })
    const recording = await nms.waitForRecording("k2")
    await compareContent(fixture, recording)
    await assertFlvTagsEqual(fixture, recording, { timestamps: false })
  })

  it("comparePacketStreams reports the first difference per stream, with counts", async () => {
    const streams = await framemd5Packets(fixture)
    const video = streams.find((s) => s.mediaType === "video")!
    const audio = streams.find((s) => s.mediaType === "audio")!
    const shorter = [{ ...video, packets: video.packets.slice(0, 80) }, audio]
    expect(comparePacketStreams(streams, shorter).report).toMatch(
      /^video \(h264\): first 80 packets equal, then missing 10, first missing: dts \d+ .*\[expected 90 packets, got 80\]$/
    )
    const altered = [video, { ...audio, packets: audio.packets.map((p, i) => (i === 7 ? { ...p, md5: "x" } : p)) }]
    expect(comparePacketStreams(streams, altered).report).toMatch(/^audio \(aac\): packet #7 differs: /)
    const retimed = [video, { ...audio, packets: audio.packets.map((p, i) => (i >= 5 ? { ...p, dts: p.dts + 1, pts: p.pts + 1 } : p)) }]
    expect(comparePacketStreams(streams, retimed).report).toMatch(/^audio \(aac\): packet #5 differs \(timestamps, offset 0\)/)
    expect(comparePacketStreams(streams, retimed, { timestamps: "none" }).ok).toBe(true)
    const shifted = [video, { ...audio, packets: audio.packets.map((p) => ({ ...p, dts: p.dts + 9, pts: p.pts + 9 })) }]
    expect(comparePacketStreams(streams, shifted).ok).toBe(true)
    expect(comparePacketStreams(streams, shifted, { commonOffset: true }).report).toMatch(/offsets differ/)
  })

  it("runProcess captures output, exit code and timeouts", async () => {
    const ok = await runProcess(process.execPath, ["-e", "process.stdin.pipe(process.stdout); console.error('e')"], { stdin: "hi" })
    expect(ok).toMatchObject({ code: 0, stdout: "hi", stderr: "e\n", timedOut: false })
    const counted = await runProcess(process.execPath, ["-e", "let n = 0; process.stdin.on('data', (c) => n += c.length).on('end', () => console.log(n))"], { stdinFile: fixture })
    expect(Number(counted.stdout)).toBe((await fs.stat(fixture)).size)
    const failing = await runProcess(process.execPath, ["-e", "process.exit(3)"])
    expect(failing.code).toBe(3)
    const slow = await runProcess(process.execPath, ["-e", "setTimeout(() => {}, 10000)"], { timeoutMs: 200 })
    expect(slow.timedOut).toBe(true)
    await expect(runProcess("definitely-not-installed-tool", [])).rejects.toThrow(/not found/)
  })
})
