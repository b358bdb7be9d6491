/**
 * Congestion, end to end: the CLI publishes a 3.2 Mb/s live stream (1280x720 H.264 with a keyframe every
 * second, AAC 128 kb/s) to nginx-rtmp through a proxy that forwards at 1 Mb/s for the first 6 seconds,
 * then without limit; the stream is a file paced by `--realtime`, or `ffmpeg -re` piped into `publish -
 * --live`. What a user checks:
 *
 * - the publish succeeds, and its memory stays bounded: the send queue (progress events) never holds
 *   much more than its 1 s bound, and the process's resident memory stays small;
 * - the drops are reported per track, video only;
 * - audio is continuous: nginx recorded every audio packet of the source, byte for byte;
 * - the stream recovers when the throttle lifts: the drops stop, and from then on nginx recorded every
 *   video packet of the source; the bitrate recommendation appeared under congestion and went away.
 */
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type FaultServer, startFaultServer, throttlingProxy } from "./support/faults.ts"
import {
  comparePacketStreams,
  framemd5Packets,
  makeFixture,
  makeTempDir,
  type NginxServer,
  removeTempDir,
  runCli,
  runCliFromFfmpeg,
  startNginx,
  type CliRun
} from "./support/index.ts"

const seconds = 12
const throttledFor = 6_000
const throttleRate = 1_000_000 / 8

let nginx: NginxServer
let dir: string
let fixture: string

beforeAll(async () => {
  dir = await makeTempDir("effect-rtmp-congestion-")
  nginx = await startNginx()
  fixture = await makeFixture({
    path: path.join(dir, "live.flv"),
    seconds,
    size: "1280x720",
    videoBitrate: "3M",
    gop: 30,
    bframes: 0
  })
}, 120_000)

afterAll(async () => {
  await nginx?.stop()
  if (dir !== undefined) await removeTempDir(dir)
})

describe("a 3 Mb/s live stream through a 1 Mb/s link that recovers", { timeout: 90_000 }, () => {
  let proxy: FaultServer | undefined
  afterEach(async () => {
    await proxy?.close()
    proxy = undefined
  })

  /**
   * Starts the throttling proxy (1 Mb/s for `throttledFor` from the client's connection: the CLI's clock,
   * which its progress events count in, starts a few milliseconds before), then runs `publish` to `key`
   * through it.
   */
  const throttled = async (key: string, publish: (url: string) => Promise<CliRun>) => {
    let liftedAt = Infinity
    const throttle = throttlingProxy({
      upstreamPort: nginx.rtmpPort,
      bytesPerSecond: () => Date.now() < liftedAt ? throttleRate : Infinity
    })
    proxy = await startFaultServer({
      behaviour: (connection) => {
        if (liftedAt === Infinity) liftedAt = Date.now() + throttledFor
        throttle(connection)
      }
    })
    return publish(`rtmp://127.0.0.1:${proxy.port}/${nginx.app}/${key}`)
  }

  it("a file with --realtime: drops video GOP-wise under the throttle, never audio, with bounded memory, and recovers", async () => {
    const run = await throttled("realtime", (url) => runCli(["publish", fixture, url, "--realtime", "--json"], { timeoutMs: 60_000 }))
    await check(run, "realtime")
  })

  it("ffmpeg -re piped into publish - --live: the same", async () => {
    const run = await throttled("piped", (url) =>
      runCliFromFfmpeg(
        ["-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", fixture, "-c", "copy", "-f", "flv", "-"],
        ["publish", "-", url, "--live", "--json"],
        { timeoutMs: 60_000 }
      ))
    await check(run, "piped")
  })
})

/** What a user checks of a congested run and of nginx's recording of it (see the module documentation). */
const check = async (run: CliRun, key: string) => {
  const progress = run.events.filter((e) => e.event === "progress") as unknown as ReadonlyArray<Progress>
  const shown = progress.map((e) => JSON.stringify(e)).join("\n")
  expect(run.code, `${run.stderr}\n${shown}`).toBe(0)
  expect(run.summary).toMatchObject({ status: "ok", reconnects: 0 })

  // Bounded memory: the send queue stays near its 1 s bound (about 400 kB at this bitrate; 2 s for
  // keyframes), and, once nginx acknowledged something, what is written but not acknowledged yet (in
  // the sockets' buffers) near its 250 kB bound (plus one write).
  const throttled = progress.filter((e) => e.elapsedMs < throttledFor)
  expect(Math.max(...progress.map((e) => e.queue.bytes)), shown).toBeLessThan(1024 * 1024)
  expect(Math.max(...progress.map((e) => e.queue.durationMs)), shown).toBeLessThan(2_500)
  const inFlight = throttled.filter((e) => e.bytesAcknowledged > 0).map((e) => e.bytes - e.bytesAcknowledged)
  expect(inFlight.length, shown).toBeGreaterThan(2)
  expect(Math.max(...inFlight), shown).toBeLessThan(450_000)
  expect(Math.max(...progress.map((e) => e.rssBytes)), shown).toBeLessThan(200 * 1024 * 1024)

  // Drops reported per track: video only. The link carries about a third of the video.
  const dropped = run.summary!["droppedFrames"] as Record<string, number>
  expect(Object.keys(dropped), shown).toEqual(["video:0"])
  expect(dropped["video:0"]).toBeGreaterThan(30)

  // Under the throttle, the recommendation is what the 1 Mb/s link carries, with headroom.
  const recommended = throttled.flatMap((e) => e.recommendedBitrate === null ? [] : [e.recommendedBitrate])
  expect(recommended.length, shown).toBeGreaterThan(0)
  for (const bitrate of recommended) {
    expect(bitrate, shown).toBeGreaterThan(400_000)
    expect(bitrate, shown).toBeLessThan(1_200_000)
  }

  // The round trip of pings (nginx answers them) shows the queueing in the network under the throttle.
  expect(Math.max(...throttled.map((e) => e.rttMs ?? 0)), shown).toBeGreaterThan(200)

  // Recovery: no drop in the last 4 s (the throttle lifted at 6 s), and the recommendation went up.
  const recovered = progress.filter((e) => e.elapsedMs > throttledFor + 2_000)
  expect(recovered.length).toBeGreaterThan(2)
  for (const e of recovered) expect(e.droppedFrames, shown).toEqual(dropped)
  const last = progress.at(-1)!
  expect(last.recommendedBitrate === null || last.recommendedBitrate > 2 * Math.max(...recommended), shown).toBe(true)
  expect(last.rttMs, shown).toBeLessThan(200)

  // What nginx recorded: every audio packet, in order, byte for byte; video GOP by GOP, each GOP a
  // prefix of the source's (keyframe first, nothing missing before a recorded frame), and complete after
  // the recovery.
  const recording = await nginx.waitForRecording(key)
  const [source, recorded] = [await framemd5Packets(fixture), await framemd5Packets(recording)]
  const audio = comparePacketStreams(source, recorded, { mediaTypes: ["audio"] })
  expect(audio.ok, audio.report).toBe(true)
  const sourceVideo = source.find((s) => s.mediaType === "video")!.packets
  const recordedVideo = new Set(recorded.find((s) => s.mediaType === "video")!.packets.map((p) => p.md5))
  expect(recordedVideo.size).toBeLessThan(sourceVideo.length)
  for (let gop = 0; gop * 30 < sourceVideo.length; gop++) {
    const kept = sourceVideo.slice(gop * 30, gop * 30 + 30).map((p) => recordedVideo.has(p.md5))
    const firstMissing = kept.indexOf(false)
    expect(firstMissing < 0 || !kept.slice(firstMissing).includes(true), `GOP ${gop}: ${kept.map(Number).join("")}`)
      .toBe(true)
  }
  const tail = sourceVideo.filter((p) => p.dts - sourceVideo[0]!.dts >= throttledFor + 3_000)
  expect(tail.filter((p) => !recordedVideo.has(p.md5)).length, "video missing after the recovery").toBe(0)
}

/** A progress event of the CLI's --json output. */
interface Progress {
  readonly elapsedMs: number
  readonly bytes: number
  readonly bytesAcknowledged: number
  readonly queue: { readonly bytes: number; readonly durationMs: number }
  readonly droppedFrames: Record<string, number>
  readonly recommendedBitrate: number | null
  readonly rttMs: number | null
  readonly rssBytes: number
}
