/**
 * Ctrl-C and SIGTERM during a publish: the CLI ends the stream on the server (FCUnpublish +
 * deleteStream), closes the connection, prints the summary (status `failed`, error `Interrupted` with the
 * signal) and exits with 130 (SIGINT) or 143 (SIGTERM), within 2.5 s of the signal. nginx's recording is
 * then complete and readable, and holds a prefix of the source's packets.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  cliPath,
  framemd5Packets,
  makeFixture,
  makeTempDir,
  type NginxServer,
  type PacketStream,
  removeTempDir,
  startNginx
} from "./support/index.ts"

let work: string
let nginx: NginxServer
let clip: string
let clipPackets: ReadonlyArray<PacketStream>

beforeAll(async () => {
  work = await makeTempDir("signals")
  const results = await Promise.allSettled([
    startNginx().then((s) => (nginx = s)),
    makeFixture({ path: path.join(work, "clip.flv"), seconds: 10 }).then((f) => (clip = f))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
  clipPackets = await framemd5Packets(clip)
})

afterAll(async () => {
  await nginx?.stop()
  if (work) await removeTempDir(work)
})

interface SignalledRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** Milliseconds from the signal to the process's exit. */
  readonly exitAfterMs: number
  readonly events: ReadonlyArray<Record<string, unknown>>
}

/** Runs the CLI, sends `signal` after `afterMs`, and waits for the exit (killed after 10 s). */
const runAndSignal = (args: ReadonlyArray<string>, signal: NodeJS.Signals, afterMs: number) =>
  new Promise<SignalledRun>((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk))
    let signalledAt = 0
    const timer = setTimeout(() => {
      signalledAt = Date.now()
      child.kill(signal)
    }, afterMs)
    const killer = setTimeout(() => child.kill("SIGKILL"), afterMs + 10_000)
    child.once("error", reject)
    child.once("close", (code) => {
      clearTimeout(timer)
      clearTimeout(killer)
      const out = Buffer.concat(stdout).toString("utf8")
      resolve({
        code,
        stdout: out,
        stderr: Buffer.concat(stderr).toString("utf8"),
        exitAfterMs: signalledAt === 0 ? -1 : Date.now() - signalledAt,
        events: out.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line))
      })
    })
  })

/** Per stream, the recording's packets are the source's first packets (content and timestamps up to one offset). */
const expectPrefixOfSource = (recorded: ReadonlyArray<PacketStream>) => {
  for (const mediaType of ["video", "audio"]) {
    const source = clipPackets.find((s) => s.mediaType === mediaType)!.packets
    const got = recorded.find((s) => s.mediaType === mediaType)!.packets
    expect(got.length, mediaType).toBeGreaterThan(0)
    expect(got.length, mediaType).toBeLessThan(source.length)
    const offset = got[0]!.dts - source[0]!.dts
    expect(got.map((p) => [p.dts - offset, p.size, p.md5]), mediaType).toEqual(
      source.slice(0, got.length).map((p) => [p.dts, p.size, p.md5])
    )
  }
}

describe("a signal during a --realtime publish", () => {
  const cases = [
    { signal: "SIGINT", code: 130, transport: "coroutine" },
    { signal: "SIGINT", code: 130, transport: "blocking" },
    { signal: "SIGTERM", code: 143, transport: "coroutine" }
  ] as const
  for (const c of cases) {
    it(`${c.signal} (${c.transport}): exit ${c.code} within 2.5 s, summary printed, recording finalized`, async () => {
      const key = `signal-${c.signal}-${c.transport}`
      const run = await runAndSignal(
        ["publish", clip, nginx.url(key), "--realtime", "--json", "--transport", c.transport],
        c.signal,
        1_500
      )
      const report = `exit ${run.code} ${run.exitAfterMs} ms after ${c.signal}\n--- stdout ---\n${run.stdout}--- stderr ---\n${run.stderr}`
      expect(run.code, report).toBe(c.code)
      expect(run.exitAfterMs, report).toBeGreaterThanOrEqual(0)
      expect(run.exitAfterMs, report).toBeLessThan(2_500)
      // The summary is the last line: failed, interrupted by that signal, with what was sent.
      const summary = run.events.at(-1)
      expect(summary, report).toMatchObject({
        event: "summary",
        status: "failed",
        attempts: 1,
        transport: c.transport,
        error: { _tag: "Interrupted", signal: c.signal }
      })
      expect(summary!.frames as number, report).toBeGreaterThan(0)
      expect(run.events.some((e) => e.event === "finished"), report).toBe(false)

      // nginx closed the recording when the stream ended (deleteStream / the connection closed).
      const recording = await nginx.waitForRecording(key, { timeoutMs: 5_000 })
      // The client deleted the stream itself: nginx logs deleteStream before the disconnect (on a bare
      // disconnect it logs it after).
      const log = await nginx.errorLog()
      const id = new RegExp(`\\*(\\d+) publish: name='${key}'`).exec(log)?.[1]
      const lines = log.split("\n").filter((line) => line.includes(`*${id} `))
      const deleted = lines.findIndex((line) => / deleteStream, /.test(line))
      const disconnected = lines.findIndex((line) => / disconnect, /.test(line))
      expect(deleted, lines.join("\n")).toBeGreaterThanOrEqual(0)
      expect(deleted, lines.join("\n")).toBeLessThan(disconnected)
      expectPrefixOfSource(await framemd5Packets(recording))
    })
  }
})
