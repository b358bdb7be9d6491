/**
 * `effect-rtmp probe` against real servers: nginx-rtmp (plain and behind its TLS front) and
 * node-media-server. What the probe reports must be what each server actually sent for its configuration,
 * on both transports; and a probe never publishes (no publish in nginx's log, no recording).
 */
import { X509Certificate } from "node:crypto"
import * as fs from "node:fs/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type NginxServer, type NodeMediaServerInstance, runCli, startNginx, startNodeMediaServer } from "./support/index.ts"

const key = "probeSecretKey42"
const nginxChunkSize = 8192

let nginx: NginxServer
let nms: NodeMediaServerInstance

beforeAll(async () => {
  const results = await Promise.allSettled([
    startNginx({ tls: true, chunkSize: nginxChunkSize }).then((s) => (nginx = s)),
    startNodeMediaServer({ tls: true }).then((s) => (nms = s))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
})

afterAll(async () => {
  await Promise.all([nginx?.stop(), nms?.stop()])
})

type Json = Record<string, any>

const probes = (events: ReadonlyArray<Json>) => events.filter((e) => e.event === "probe")

/** The stream key appears nowhere in the output (masked in URLs). */
const expectMasked = (run: { stdout: string; stderr: string }) => {
  expect(run.stdout).not.toContain(key)
  expect(run.stderr).not.toContain(key)
}

describe("probe nginx-rtmp", () => {
  it("rtmp: reports nginx's identity and its configured chunk size, window and peer bandwidth on both transports", async () => {
    const run = await runCli(["probe", nginx.url(key), "--json"], { timeoutMs: 20_000 })
    expect(run.code, run.stderr).toBe(0)
    expectMasked(run)
    const results = probes(run.events)
    expect(results.map((r) => [r.transport, r.status])).toEqual([["coroutine", "ok"], ["blocking", "ok"]])
    for (const report of results) {
      expect(report.url).toBe(`rtmp://127.0.0.1:${nginx.rtmpPort}/live/****`)
      expect(report.server).toMatchObject({
        fmsVer: "FMS/3,0,1,123",
        capabilities: 31,
        level: "status",
        code: "NetConnection.Connect.Success",
        description: "Connection succeeded.",
        objectEncoding: 0
      })
      // nginx-rtmp's defaults (ack_window 5000000; Set Peer Bandwidth with limit type dynamic) and our chunk_size.
      expect(report.advertised).toEqual({
        chunkSize: nginxChunkSize,
        windowAckSize: 5_000_000,
        peerBandwidth: { size: 5_000_000, limitType: "dynamic" }
      })
      expect(report.enhanced).toBeNull()
      // nginx-rtmp answers Ping Requests.
      expect(report.rttMs).toBeTypeOf("number")
      expect(report.rttMs).toBeLessThan(1000)
      expect(report.tls).toBeNull()
    }
    expect(run.summary).toMatchObject({ event: "summary", status: "ok", transports: { coroutine: "ok", blocking: "ok" } })
  })

  it("rtmps: reports the TLS session and the test certificate", async () => {
    const run = await runCli(["probe", nginx.tlsUrl(key), "--ca", nginx.caFile!, "--json"], { timeoutMs: 20_000 })
    expect(run.code, run.stderr).toBe(0)
    expectMasked(run)
    const cert = new X509Certificate(await fs.readFile(nginx.certificates!.certFile))
    for (const report of probes(run.events)) {
      expect(report.status).toBe("ok")
      expect(report.server.fmsVer).toBe("FMS/3,0,1,123")
      expect(report.advertised.chunkSize).toBe(nginxChunkSize)
      // nginx's front allows TLSv1.2 and TLSv1.3: Node negotiates the highest.
      expect(report.tls).toMatchObject({ protocol: "TLSv1.3", servername: "localhost" })
      expect(report.tls.cipher).toMatch(/^TLS_/)
      const certificate = report.tls.certificate
      expect(certificate).not.toBeNull()
      expect(certificate.subject).toBe("CN=localhost")
      expect(certificate.issuer).toBe("CN=effect-rtmp test CA")
      expect(certificate.subjectAltName).toBe(cert.subjectAltName)
      expect(new Date(certificate.validTo).getTime()).toBe(new Date(cert.validTo).getTime())
      expect(new Date(certificate.validTo).getTime()).toBeGreaterThan(Date.now())
    }
  })

  it("rtmps without the CA: every transport fails with TlsError, exit 1", async () => {
    const run = await runCli(["probe", nginx.tlsUrl(key), "--json", "--timeout", "5"], { timeoutMs: 20_000 })
    expect(run.code).toBe(1)
    expectMasked(run)
    expect(probes(run.events).map((r) => [r.transport, r.status, r.error?._tag])).toEqual([
      ["coroutine", "failed", "TlsError"],
      ["blocking", "failed", "TlsError"]
    ])
    expect(run.summary).toMatchObject({ status: "failed", transports: { coroutine: "failed", blocking: "failed" } })
    expect(run.summary).toMatchObject({ error: { _tag: "TlsError" } })
  })

  it("never publishes: no publish in nginx's log, no recording", async () => {
    await runCli(["probe", nginx.url(key), "--transport", "coroutine"], { timeoutMs: 20_000 })
    const log = await nginx.errorLog()
    expect(log).toMatch(/connect: app='live'/)
    expect(log).not.toMatch(/publish: /)
    expect(log).not.toContain(key)
    expect(await nginx.recordings()).toEqual([])
  })

  it("human output: a readable block per transport, the key masked", async () => {
    const run = await runCli(["probe", nginx.url(key)], { timeoutMs: 20_000 })
    expect(run.code, run.stderr).toBe(0)
    expectMasked(run)
    expect(run.stdout).toContain(`probe rtmp://127.0.0.1:${nginx.rtmpPort}/live/****`)
    expect(run.stdout).toMatch(/coroutine: ok/)
    expect(run.stdout).toMatch(/blocking: ok/)
    expect(run.stdout).toContain("FMS/3,0,1,123")
    expect(run.stdout).toContain(`chunk size ${nginxChunkSize}, window ack size 5000000, peer bandwidth 5000000 (dynamic)`)
    expect(run.stdout).toContain("2 of 2 transports work")
  })
})

describe("probe node-media-server", () => {
  it("rtmp and rtmps: reports NMS's identity and what it advertises; it does not answer pings", async () => {
    for (const url of [nms.url(key), nms.tlsUrl(key)]) {
      const run = await runCli(["probe", url, "--ca", nms.caFile!, "--json"], { timeoutMs: 20_000 })
      expect(run.code, run.stderr).toBe(0)
      expectMasked(run)
      for (const report of probes(run.events)) {
        expect(report.status).toBe("ok")
        expect(report.server).toMatchObject({
          fmsVer: "FMS/3,0,1,123",
          capabilities: 31,
          code: "NetConnection.Connect.Success",
          objectEncoding: 0
        })
        // node-media-server: Window Ack 5000000, Set Peer Bandwidth 5000000 dynamic, chunk size 0xffff.
        expect(report.advertised).toEqual({
          chunkSize: 0xffff,
          windowAckSize: 5_000_000,
          peerBandwidth: { size: 5_000_000, limitType: "dynamic" }
        })
        expect(report.rttMs).toBeNull()
        if (url.startsWith("rtmps")) expect(report.tls.protocol).toMatch(/^TLSv1\.[23]$/)
        else expect(report.tls).toBeNull()
      }
    }
    expect(nms.events().filter((e) => e.event === "postPublish")).toEqual([])
  })
})

describe("probe usage and failures", () => {
  it("a refused port: ConnectFailed on both transports, exit 1; a bad URL: exit 2", async () => {
    const refused = await runCli(["probe", `rtmp://127.0.0.1:1/live/${key}`, "--json"], { timeoutMs: 20_000 })
    expect(refused.code).toBe(1)
    expectMasked(refused)
    expect(probes(refused.events).map((r) => r.error?._tag)).toEqual(["ConnectFailed", "ConnectFailed"])
    const usage = await runCli(["probe", "http://nowhere/live/key", "--json"], { timeoutMs: 20_000 })
    expect(usage.code).toBe(2)
    expect(usage.summary).toMatchObject({ error: { _tag: "InvalidUrl" } })
  })
})
