/**
 * Reconnection end to end: the CLI publishes a 13 MB file to nginx-rtmp through a TCP proxy that resets
 * the client's connection after 4 MB. The publish must complete (exit 0, status ok, a reconnect), and
 * what nginx recorded over both connections (each kept: `record_unique on`) must hold every packet of
 * the source, the resumed recording starting with the codec configuration and a video keyframe, not
 * from the beginning of the file (nginx acknowledged what it got, so the client did not re-send it).
 */
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type CliRun,
  framemd5Packets,
  listenOnLoopback,
  LOOPBACK,
  makeFixture,
  makeTempDir,
  type NginxServer,
  type PacketStream,
  readFlv,
  removeTempDir,
  runCli,
  startNginx,
  waitFor
} from "./support/index.ts"

/**
 * A TCP proxy to nginx that stops forwarding the first client connection after `resetAfter` bytes from the
 * client, and resets it `stallMs` later. Later connections are forwarded after `holdMs`.
 */
interface ResettingProxy {
  readonly port: number
  /** Connections accepted so far. */
  readonly accepted: () => number
  readonly close: () => Promise<void>
}

const startResettingProxy = async (
  upstreamPort: number,
  options: { readonly resetAfter: number; readonly holdMs: number; readonly stallMs: number }
): Promise<ResettingProxy> => {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer((client) => {
    const number = ++accepted
    sockets.add(client)
    client.on("error", () => {})
    client.on("close", () => sockets.delete(client))
    client.pause()
    // Later connections wait a little, so that nginx names their recording after another second.
    setTimeout(() => {
      const upstream = net.connect(upstreamPort, LOOPBACK)
      sockets.add(upstream)
      upstream.on("error", () => {})
      upstream.on("close", () => {
        sockets.delete(upstream)
        client.destroy()
      })
      client.on("close", () => upstream.destroy())
      upstream.on("data", (chunk: Buffer) => client.write(chunk))
      let forwarded = 0
      client.on("data", (chunk: Buffer) => {
        if (number === 1 && forwarded + chunk.length >= options.resetAfter) {
          if (forwarded >= options.resetAfter) return
          // A stall, then the reset: nginx gets the bytes up to the threshold and has time to acknowledge
          // them (whatever the machine's load) before the client's connection is reset.
          upstream.write(chunk.subarray(0, options.resetAfter - forwarded))
          forwarded = options.resetAfter
          client.pause()
          setTimeout(() => {
            client.resetAndDestroy()
            upstream.end()
          }, options.stallMs)
          return
        }
        forwarded += chunk.length
        if (!upstream.write(chunk)) {
          client.pause()
          upstream.once("drain", () => client.resume())
        }
      })
      client.resume()
    }, number === 1 ? 0 : options.holdMs)
  })
  return { ...(await listenOnLoopback(server, sockets)), accepted: () => accepted }
}

let work: string
let uniqueDir: string
let nginx: NginxServer
let source: string
let sourcePackets: ReadonlyArray<PacketStream>

beforeAll(async () => {
  work = await makeTempDir("reconnect")
  uniqueDir = path.join(work, "recordings")
  await fs.mkdir(uniqueDir)
  const results = await Promise.allSettled([
    // A second recorder keeps each publish in a file of its own (`<key>-<unix time>.flv`).
    startNginx({ applicationConfig: `recorder unique { record all; record_path ${uniqueDir}; record_unique on; }` })
      .then((s) => (nginx = s)),
    makeFixture({ path: path.join(work, "long.flv"), seconds: 20, size: "1280x720", videoBitrate: "5M" })
      .then((f) => (source = f))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
  expect((await fs.stat(source)).size).toBeGreaterThan(10_000_000)
  sourcePackets = await framemd5Packets(source)
})

afterAll(async () => {
  await nginx?.stop()
  if (work) await removeTempDir(work)
})

const show = (run: CliRun) =>
  `exit ${run.code} after ${run.durationMs} ms\n--- stdout (tail) ---\n${run.stdout.split("\n").slice(-8).join("\n")}` +
  `--- stderr ---\n${run.stderr}`

/** Whether nginx (its pid in `<dir>/nginx.pid`) has `file` open (Linux: /proc/<pid>/fd). */
const openByNginx = async (file: string): Promise<boolean> => {
  const pid = (await fs.readFile(path.join(nginx.dir, "nginx.pid"), "utf8")).trim()
  const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as Array<string>)
  for (const fd of fds) {
    if ((await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")) === file) return true
  }
  return false
}

/** The recordings of `key` once nginx has closed them all (at least `count`), oldest first. */
const recordingsOf = (key: string, count: number): Promise<ReadonlyArray<string>> =>
  waitFor(async () => {
    const files = (await fs.readdir(uniqueDir)).filter((f) => f.startsWith(`${key}-`)).sort().map((f) => path.join(uniqueDir, f))
    if (files.length < count) return undefined
    for (const file of files) if (await openByNginx(file)) return undefined
    return files
  }, `the recordings of ${key} in ${uniqueDir}`, { timeoutMs: 15_000, intervalMs: 100 })

/**
 * Each source packet (per stream: dts, md5) that no recording holds. nginx starts each recording's
 * timestamps at 0: a recording's offset is found from its first video packet, which the source holds once.
 */
const missingPackets = (recordings: ReadonlyArray<ReadonlyArray<PacketStream>>) => {
  const held = new Map<string, Set<string>>()
  for (const streams of recordings) {
    const video = streams.find((s) => s.mediaType === "video")!
    const first = video.packets[0]!
    const match = sourcePackets.find((s) => s.mediaType === "video")!.packets.find((p) => p.md5 === first.md5)
    expect(match, "the first video packet of a recording is a source packet").toBeDefined()
    const offset = match!.dts - first.dts
    for (const s of streams) {
      const set = held.get(s.mediaType) ?? new Set<string>()
      for (const p of s.packets) set.add(`${p.dts + offset}:${p.md5}`)
      held.set(s.mediaType, set)
    }
  }
  const missing: Array<string> = []
  for (const s of sourcePackets.filter((s) => s.mediaType === "video" || s.mediaType === "audio")) {
    for (const p of s.packets) {
      if (!held.get(s.mediaType)?.has(`${p.dts}:${p.md5}`)) missing.push(`${s.mediaType} dts ${p.dts}`)
    }
  }
  return missing
}

describe("--transport auto", () => {
  it("a reset during the handshake switches to the blocking transport, which carries the stream", async () => {
    // The first connection is reset after 100 bytes of C0+C1: a transport-level failure before publishing.
    const proxy = await startResettingProxy(nginx.rtmpPort, { resetAfter: 100, holdMs: 0, stallMs: 0 })
    try {
      const key = "auto"
      const url = `rtmp://${LOOPBACK}:${proxy.port}/${nginx.app}/${key}`
      const run = await runCli(["publish", source, url, "--json", "--transport", "auto"])
      expect(run.code, show(run)).toBe(0)
      expect(run.summary, show(run)).toMatchObject({ status: "ok", attempts: 2, reconnects: 0, transport: "blocking" })
      expect(run.events.filter((e) => e.event === "connecting").map((e) => e.transport), show(run)).toEqual([
        "coroutine",
        "blocking"
      ])
      expect(run.events.find((e) => e.event === "attempt_failed"), show(run)).toMatchObject({
        attempt: 1,
        error: { _tag: expect.stringMatching(/^(ConnectionReset|UnexpectedEof)$/) }
      })
    } finally {
      await proxy.close()
    }
  })
})

describe("reconnect after a connection reset mid-stream", () => {
  for (const transport of ["coroutine", "blocking"] as const) {
    it(`${transport}: completes with every source packet recorded, the resumed part from a keyframe`, async () => {
      const proxy = await startResettingProxy(nginx.rtmpPort, { resetAfter: 4_000_000, holdMs: 1_100, stallMs: 500 })
      try {
        const key = `resume-${transport}`
        const url = `rtmp://${LOOPBACK}:${proxy.port}/${nginx.app}/${key}`
        const run = await runCli(["publish", source, url, "--json", "--retries", "3", "--transport", transport])
        expect(run.code, show(run)).toBe(0)
        expect(run.summary, show(run)).toMatchObject({ status: "ok", transport, dropped: 0 })
        expect(run.summary!.reconnects as number, show(run)).toBeGreaterThanOrEqual(1)
        const reconnecting = run.events.filter((e) => e.event === "reconnecting")
        expect(reconnecting.length, show(run)).toBeGreaterThanOrEqual(1)
        expect(reconnecting[0], show(run)).toMatchObject({ attempt: 2, error: { _tag: "ConnectionReset" } })
        expect(run.stdout).not.toContain(key)
        expect(proxy.accepted()).toBe((run.summary!.attempts as number))

        const recordings = await recordingsOf(key, 2)
        expect(recordings.length).toBe(run.summary!.attempts as number)
        const missing = missingPackets(await Promise.all(recordings.map(framemd5Packets)))
        expect(missing.slice(0, 10), `${missing.length} source packets missing from every recording`).toEqual([])

        // The resumed recording: the configuration first, then media from a video keyframe, not from the start.
        const resumed = await readFlv(recordings[1]!)
        const videoTags = resumed.tags.filter((t) => t.track === "video")
        const audioTags = resumed.tags.filter((t) => t.track === "audio")
        expect(videoTags[0]?.kind).toBe("config")
        expect(audioTags[0]?.kind).toBe("config")
        const firstVideo = videoTags.find((t) => t.kind === "media")!
        expect(firstVideo.keyframe).toBe(true)
        const sourceVideo = sourcePackets.find((s) => s.mediaType === "video")!.packets
        const resumedPackets = (await framemd5Packets(recordings[1]!)).find((s) => s.mediaType === "video")!.packets
        const resumedAt = sourceVideo.findIndex((p) => p.md5 === resumedPackets[0]!.md5)
        expect(resumedAt, "acknowledged frames are not re-sent").toBeGreaterThan(0)
        // ... and the first recording reaches at least that far: nothing between them is lost.
        const firstPackets = (await framemd5Packets(recordings[0]!)).find((s) => s.mediaType === "video")!.packets
        expect(firstPackets.length).toBeGreaterThanOrEqual(resumedAt)
      } finally {
        await proxy.close()
      }
    })
  }
})
