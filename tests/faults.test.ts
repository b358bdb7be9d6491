/**
 * Network faults, end to end: the built `effect-rtmp` CLI against real fault-injecting servers on
 * 127.0.0.1 (tests/support/faults.ts), on both transports. Each case asserts the typed error and its fields,
 * the exit code, the attempts in the JSON summary, and the connections the fault server saw.
 *
 * The project's origin: an RTMPS publish died in the handshake with "Unexpected EOF: expected 1434 more
 * bytes" while reading S1, its TLS layer having swallowed the real error. Here:
 *
 * - a TLS front that cuts every server byte of the handshake and of the first replies into TLS records of
 *   1-7 bytes, with pauses: the publish succeeds and nginx-rtmp records the file packet-exact;
 * - a TLS server that sends S0 and 102 bytes of S1 then closes: `UnexpectedEof` 1536/102 in S1, retried;
 * - servers that never answer (RTMP or TLS): `Timeout` per phase, within the limit, per attempt;
 * - a proxy that stops reading mid-publish: `Timeout` in phase `write`, not a hang;
 * - an untrusted certificate: `TlsError` after one connection, whatever `--retries` says.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertFlvTagsEqual,
  type CliRun,
  comparePackets,
  LOOPBACK,
  makeCertificates,
  makeFixture,
  makeTempDir,
  type NginxServer,
  readFlv,
  removeTempDir,
  runCli,
  runProcess,
  startNginx,
  type TestCertificates
} from "./support/index.ts"
import {
  type FaultServer,
  type FaultServerOptions,
  fragmentingProxy,
  shortS1,
  silent,
  stallingProxy,
  startFaultServer
} from "./support/faults.ts"

const transports = ["coroutine", "blocking"] as const

/** A program on the library (not the CLI), run from the TypeScript sources: tests/support/library-publish.ts. */
const libraryPublish = fileURLToPath(new URL("./support/library-publish.ts", import.meta.url))

let work: string
let nginx: NginxServer
let certificates: TestCertificates
/** 3 s H.264 + AAC: the fragmenting front's payload. */
let clip: string
let clipFrames: number
/** Every tag of `clip`, the AVC end-of-sequence tag included. */
let clipTags: number
/** About 12 MB: more than a stalled proxy, the kernel's buffers and Node's can absorb. */
let big: string
let bigFrames: number

/** Every fault server started, stopped in `afterAll` even when a test failed half-way. */
const servers = new Set<FaultServer>()
const serve = async (options: FaultServerOptions): Promise<FaultServer> => {
  const server = await startFaultServer(options)
  servers.add(server)
  return server
}

beforeAll(async () => {
  work = await makeTempDir("faults")
  const results = await Promise.allSettled([
    startNginx().then((s) => (nginx = s)),
    makeCertificates(work).then((c) => (certificates = c)),
    makeFixture({ path: path.join(work, "clip.flv"), seconds: 3 }).then((f) => (clip = f)),
    // 720p asked for 40 Mb/s: x264 gives testsrc2 ~2 MB per second.
    makeFixture({ path: path.join(work, "big.flv"), seconds: 6, size: "1280x720", videoBitrate: "40M" })
      .then((f) => (big = f))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
  // The frames of a file: every tag but the AVC end-of-sequence tag, which carries no picture (whether the
  // CLI sends it is the demuxer's policy: the counts below allow both).
  const frames = async (file: string) => (await readFlv(file)).tags.filter((t) => t.kind !== "other").length
  clipFrames = await frames(clip)
  clipTags = (await readFlv(clip)).tags.length
  bigFrames = await frames(big)
})

afterAll(async () => {
  await Promise.allSettled([...servers].map((s) => s.close()))
  await nginx?.stop()
  if (work) await removeTempDir(work)
})

const show = (run: CliRun, server?: FaultServer) =>
  `exit ${run.code}${run.timedOut ? " (timed out)" : ""} after ${run.durationMs} ms\n` +
  `--- stdout ---\n${run.stdout}--- stderr ---\n${run.stderr}` +
  (server === undefined ? "" : `--- server connections ---\n${JSON.stringify(server.records, null, 1)}\n`)

/** A failed run: exit 1, a failed summary with these attempts and error fields, one event per failed attempt. */
const expectFailed = (run: CliRun, server: FaultServer, attempts: number, error: Record<string, unknown>) => {
  const why = show(run, server)
  expect(run.timedOut, why).toBe(false)
  expect(run.code, why).toBe(1)
  expect(run.summary, why).toMatchObject({ event: "summary", status: "failed", attempts, error })
  expect(run.events.filter((e) => e.event === "connecting").map((e) => e.attempt), why).toEqual(
    Array.from({ length: attempts }, (_, i) => i + 1)
  )
  const failed = run.events.filter((e) => e.event === "attempt_failed")
  expect(failed.map((e) => e.attempt), why).toEqual(Array.from({ length: attempts }, (_, i) => i + 1))
  for (const event of failed) expect(event.error, why).toMatchObject(error)
}

const rtmps = (port: number, key: string) => `rtmps://localhost:${port}/live/${key}`
const rtmp = (port: number, key: string) => `rtmp://${LOOPBACK}:${port}/live/${key}`

describe.concurrent("network faults, end to end", () => {
  for (const transport of transports) {
    it(`${transport}: a TLS front sending the handshake and first replies in 1-7 byte records: packet-exact`, async () => {
      const seed = Date.now() % 100_000
      const server = await serve({ tls: certificates, behaviour: fragmentingProxy({ upstreamPort: nginx.rtmpPort, seed }) })
      const key = `fragmented-${transport}`
      const run = await runCli(
        ["publish", clip, rtmps(server.port, key), "--json", "--transport", transport, "--ca", certificates.caFile],
        { timeoutMs: 60_000 }
      )
      const why = `seed ${seed}\n${show(run, server)}`
      expect(run.code, why).toBe(0)
      expect(run.summary, why).toMatchObject({ status: "ok", attempts: 1, transport })
      expect(run.summary!.frames as number, why).toBeGreaterThanOrEqual(clipFrames)
      expect(run.summary!.frames as number, why).toBeLessThanOrEqual(clipTags)
      const [connection] = await server.allClosed(1)
      expect(server.connections(), why).toBe(1)
      expect(server.secureConnections(), why).toBe(1)
      // S0 + S1 + S2 (3073 bytes) and the replies up to NetStream.Publish.Start, every one cut into pieces.
      const fragmented = connection!.notes["fragmented"]!
      expect(fragmented, why).toBeGreaterThan(3073)
      expect(fragmented, why).toBe(Math.min(8192, connection!.bytesOut))
      expect(connection!.notes["pieces"]!, why).toBeGreaterThanOrEqual(Math.ceil(fragmented / 7))
      expect(connection!.smallestWrite, why).toBe(1)
      if (connection!.bytesOut <= 8192) expect(connection!.largestWrite, why).toBeLessThanOrEqual(7)
      const recording = await nginx.waitForRecording(key)
      await comparePackets(clip, recording, { commonOffset: true })
      await assertFlvTagsEqual(clip, recording)
    })

    it(`${transport}: TLS, S0 + 102 bytes of S1 then close, --retries 2: UnexpectedEof 1536/102 in S1, 3 connections`, async () => {
      const server = await serve({ tls: certificates, behaviour: shortS1(102) })
      const run = await runCli([
        "publish", clip, rtmps(server.port, "short-s1"), "--json", "--transport", transport,
        "--ca", certificates.caFile, "--retries", "2"
      ])
      const error = { _tag: "UnexpectedEof", expected: 1536, received: 102, phase: "handshake S1" }
      expectFailed(run, server, 3, error)
      const summary = run.summary!.error as { expected: number; received: number; message: string }
      expect(summary.expected - summary.received).toBe(1434)
      expect(summary.message).toMatch(/S1.*expected 1536 bytes, received 102/)
      expect(run.summary).toMatchObject({ frames: 0, bytes: 0, transport })
      const records = await server.allClosed(3)
      expect(server.connections(), show(run, server)).toBe(3)
      expect(server.secureConnections(), show(run, server)).toBe(3)
      // Every attempt got as far as sending C0 + C1 through TLS.
      for (const r of records) expect(r.bytesIn, show(run, server)).toBeGreaterThanOrEqual(1537)
    })

    it(`${transport}: TLS, S0 + 102 bytes of S1 then a TCP reset, --retries 1: ConnectionReset ECONNRESET, not an EOF`, async () => {
      const server = await serve({ tls: certificates, behaviour: shortS1(102, "reset") })
      const run = await runCli([
        "publish", clip, rtmps(server.port, "reset-s1"), "--json", "--transport", transport,
        "--ca", certificates.caFile, "--retries", "1"
      ])
      expectFailed(run, server, 2, { _tag: "ConnectionReset", code: "ECONNRESET" })
      expect(run.stdout, show(run, server)).not.toContain("UnexpectedEof")
      await server.allClosed(2)
      expect(server.connections(), show(run, server)).toBe(2)
      expect(server.secureConnections(), show(run, server)).toBe(2)
    })

    it(`${transport}: an RTMP server that never answers, --timeout 1 --retries 1: Timeout handshake/1000 per attempt`, async () => {
      const server = await serve({ behaviour: silent })
      const run = await runCli([
        "publish", clip, rtmp(server.port, "silent"), "--json", "--transport", transport,
        "--timeout", "1", "--retries", "1"
      ])
      expectFailed(run, server, 2, { _tag: "Timeout", phase: "handshake", after: 1000 })
      const records = await server.allClosed(2)
      expect(server.connections(), show(run, server)).toBe(2)
      for (const r of records) {
        // Each attempt sent C0 + C1, waited its second, and closed its connection.
        expect(r.bytesIn, show(run, server)).toBe(1537)
        const held = r.closedAt! - r.acceptedAt
        expect(held, show(run, server)).toBeGreaterThanOrEqual(950)
        expect(held, show(run, server)).toBeLessThan(1800)
      }
    })

    it(`${transport}: a TLS server that never completes TLS, --timeout 1 --retries 1: Timeout tls/1000 per attempt`, async () => {
      const server = await serve({ behaviour: silent })
      const run = await runCli([
        "publish", clip, rtmps(server.port, "tls-silent"), "--json", "--transport", transport,
        "--timeout", "1", "--retries", "1", "--ca", certificates.caFile
      ])
      expectFailed(run, server, 2, { _tag: "Timeout", phase: "tls", after: 1000 })
      const records = await server.allClosed(2)
      expect(server.connections(), show(run, server)).toBe(2)
      for (const r of records) {
        // A ClientHello arrived, then nothing more.
        expect(r.bytesIn, show(run, server)).toBeGreaterThan(0)
        const held = r.closedAt! - r.acceptedAt
        expect(held, show(run, server)).toBeGreaterThanOrEqual(950)
        expect(held, show(run, server)).toBeLessThan(1800)
      }
    })

    for (const scheme of ["rtmp", "rtmps"] as const) {
      it(`${transport}: ${scheme}, a proxy that stops reading after 1 MB, --timeout 2: Timeout write/2000, promptly`, async () => {
        const server = await serve({
          ...(scheme === "rtmps" ? { tls: certificates } : {}),
          behaviour: stallingProxy({ upstreamPort: nginx.rtmpPort, stopAfter: 1024 * 1024 })
        })
        const key = `stalled-${transport}-${scheme}`
        const url = scheme === "rtmps" ? rtmps(server.port, key) : rtmp(server.port, key)
        const run = await runCli([
          "publish", big, url, "--json", "--transport", transport, "--timeout", "2",
          ...(scheme === "rtmps" ? ["--ca", certificates.caFile] : [])
        ])
        const exitedAt = Date.now()
        expectFailed(run, server, 1, { _tag: "Timeout", phase: "write", after: 2000 })
        expect(run.events.some((e) => e.event === "publishing"), show(run, server)).toBe(true)
        // The proxy reads nothing more, so it cannot see the close: no allClosed here.
        const [connection] = server.records
        expect(server.connections(), show(run, server)).toBe(1)
        const stoppedAt = connection!.notes["stoppedAt"]
        expect(stoppedAt, show(run, server)).toBeDefined()
        expect(run.summary!.bytes as number, show(run, server)).toBeGreaterThan(1024 * 1024)
        expect(run.summary!.frames as number, show(run, server)).toBeLessThan(bigFrames)
        // Buffers fill (a few MB, TLS-encrypted for rtmps: slower on a loaded machine), one write waits its
        // 2 s, then the process is gone: no hang on a stuck socket. (How promptly a program exits after the
        // failure is measured exactly by the library case below.)
        const afterStop = exitedAt - stoppedAt!
        expect(afterStop, `${afterStop} ms after the proxy stopped reading\n${show(run, server)}`).toBeGreaterThanOrEqual(2000)
        expect(afterStop, `${afterStop} ms after the proxy stopped reading\n${show(run, server)}`).toBeLessThan(10_000)
      })
    }

    it(`${transport}: library, a proxy that stops reading: Timeout write, and the process exits at once after`, async () => {
      const server = await serve({ behaviour: stallingProxy({ upstreamPort: nginx.rtmpPort, stopAfter: 1024 * 1024 }) })
      // An application that does not call process.exit: it ends when nothing holds the event loop.
      const run = await runProcess(
        process.execPath,
        ["--conditions=source", libraryPublish, transport, big, rtmp(server.port, `library-${transport}`), "1"],
        { timeoutMs: 30_000 }
      )
      const exitedAt = Date.now()
      const why = `exit ${run.code} after ${run.durationMs} ms\n--- stdout ---\n${run.stdout}--- stderr ---\n${run.stderr}`
      expect(run.code, why).toBe(0)
      const outcome = JSON.parse(run.stdout.trim().split("\n").at(-1)!) as { settledAt: number; status: string; error?: unknown }
      expect(outcome, why).toMatchObject({ status: "failed", error: { _tag: "Timeout", phase: "write", after: 1000 } })
      expect(server.connections(), why).toBe(1)
      // The stalled socket is reset when the publish gives up: no graceful close waiting 2 s on a peer
      // that reads nothing, no socket holding the event loop.
      expect(exitedAt - outcome.settledAt, why).toBeLessThan(1000)
    })

    it(`${transport}: an untrusted certificate, --retries 3: TlsError after exactly one connection`, async () => {
      const server = await serve({ tls: certificates, behaviour: silent })
      const run = await runCli([
        "publish", clip, rtmps(server.port, "untrusted"), "--json", "--transport", transport, "--retries", "3"
      ])
      expectFailed(run, server, 1, { _tag: "TlsError", host: "localhost", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
      await server.allClosed(1)
      expect(server.connections(), show(run, server)).toBe(1)
      expect(server.secureConnections(), show(run, server)).toBe(0)
    })
  }
})
