/**
 * The digest (Flash Player 9, HMAC-SHA256) handshake against real implementations:
 *
 * - FFmpeg's own digest C1 (what `ffmpeg -f flv rtmp://...` sends) validates with our verifier;
 * - nginx-rtmp finds our C1 digest (it signs S1 and S2 only then), we validate its S1 digest and S2
 *   signature, and a whole publish over that connection (the library's `Publisher`, on a Transport that
 *   does the digest handshake first) is recorded packet-exact.
 */
import { Handshake, MediaSource, Publisher } from "@effect-rtmp/core"
import { type Connection, layerCoroutine, Transport, type TransportShape } from "@effect-rtmp/transport"
import { Effect } from "effect"
import * as net from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  comparePackets,
  LOOPBACK,
  makeFixture,
  makeTempDir,
  type NginxServer,
  removeTempDir,
  runProcess,
  startNginx
} from "./support/index.ts"

let work: string
let nginx: NginxServer
let clip: string

beforeAll(async () => {
  work = await makeTempDir("handshake-digest")
  const results = await Promise.allSettled([
    startNginx().then((s) => (nginx = s)),
    makeFixture({ path: path.join(work, "clip.flv"), seconds: 2, size: "320x180" }).then((f) => (clip = f))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
})

afterAll(async () => {
  await nginx?.stop()
  if (work) await removeTempDir(work)
})

/**
 * A connection whose (digest) handshake is done: it answers, locally, the simple handshake the session
 * runs (S1 of zeros, S2 echoing C1), then passes everything through.
 */
const handshaken = (connection: Connection): Connection => {
  let step = 0
  let c1 = new Uint8Array(0)
  return {
    ...connection,
    write: (pieces) => {
      if (step === 0 || step === 3) {
        if (step === 0) c1 = (pieces instanceof Uint8Array ? pieces : pieces[0]!).slice(1)
        step++
        return Effect.void
      }
      return connection.write(pieces)
    },
    readExactly: (n) => {
      switch (step) {
        case 1:
          step++
          return Effect.succeed(Uint8Array.of(3))
        case 2:
          step++
          return Effect.succeed(new Uint8Array(1536))
        case 4:
          step++
          return Effect.succeed(c1)
        default:
          return connection.readExactly(n)
      }
    }
  }
}

/** A Transport that runs the digest handshake on each new connection, keeping its outcome. */
const digestTransport = (base: TransportShape, outcomes: Array<Handshake.Outcome>): TransportShape => ({
  name: base.name,
  connect: (endpoint) =>
    Effect.gen(function*() {
      const connection = yield* base.connect(endpoint)
      outcomes.push(yield* Effect.orDie(Handshake.run(connection, { digest: true })))
      return handshaken(connection)
    })
})

describe("digest handshake", () => {
  it("FFmpeg's digest C1 validates with our verifier", async () => {
    let release: () => void = () => {}
    const captured = new Promise<Uint8Array>((resolve, reject) => {
      const server = net.createServer((socket) => {
        const chunks: Array<Buffer> = []
        let n = 0
        socket.on("data", (chunk) => {
          chunks.push(chunk)
          n += chunk.length
          if (n >= 1537) {
            resolve(new Uint8Array(Buffer.concat(chunks).subarray(0, 1537)))
            socket.destroy()
          }
        })
        socket.on("error", () => {})
      })
      server.on("error", reject)
      server.listen(0, LOOPBACK, async () => {
        const port = (server.address() as net.AddressInfo).port
        release = () => server.close()
        // FFmpeg gives up once the connection closes; only its C0+C1 matters here
        const run = await runProcess("ffmpeg", [
          "-hide_banner", "-nostdin", "-loglevel", "error", "-i", clip, "-c", "copy", "-f", "flv",
          `rtmp://${LOOPBACK}:${port}/live/key`
        ], { timeoutMs: 15_000 })
        reject(new Error(`ffmpeg ended before sending C0+C1: ${run.stderr}`))
      })
    })
    try {
      const c0c1 = await captured
      expect(c0c1[0]).toBe(3)
      const c1 = c0c1.subarray(1)
      // FFmpeg announces Flash Player 9.0.124.2 and puts its digest at the scheme-0 position
      expect([...c1.subarray(4, 8)]).toEqual([9, 0, 124, 2])
      const found = Handshake.findDigest(c1, Handshake.GenuineFpKey, 30)
      expect(found?.scheme).toBe(0)
      const at = Handshake.digestPosition(c1, 0)
      expect(Buffer.from(found!.digest).equals(Buffer.from(c1.subarray(at, at + 32)))).toBe(true)
      // ... and not with the server key
      expect(Handshake.findDigest(c1, Handshake.GenuineFmsKey, 36)).toBeUndefined()
    } finally {
      release()
    }
  })

  it("nginx-rtmp signs S1 and S2 for our digest C1; a publish over that connection arrives packet-exact", async () => {
    const key = "digest"
    const outcomes: Array<Handshake.Outcome> = []
    const stats = await Effect.runPromise(
      Effect.gen(function*() {
        const base = yield* Transport
        return yield* Publisher.publish(nginx.url(key), MediaSource.frames(clip)).pipe(
          Effect.provideService(Transport, digestTransport(base, outcomes))
        )
      }).pipe(Effect.provide(layerCoroutine))
    )
    expect(stats.attempts).toBe(1)
    // nginx-rtmp answers with its own digest (version 13.14.10.13, scheme 0) only when it found ours,
    // and signs S2 from it; our C2 is signed from S1's digest.
    expect(outcomes).toEqual([{ c1: "digest", serverDigest: 0, serverVersion: "13.14.10.13", c2: "signed", s2: "signed" }])
    const recording = await nginx.waitForRecording(key)
    await comparePackets(clip, recording, { commonOffset: true })
  })

  it("nginx-rtmp answers a simple C1 the simple way", async () => {
    const outcome = await Effect.runPromise(
      Effect.gen(function*() {
        const transport = yield* Transport
        const connection = yield* transport.connect({ host: LOOPBACK, port: nginx.rtmpPort })
        return yield* Handshake.run(connection)
      }).pipe(Effect.scoped, Effect.provide(layerCoroutine))
    )
    // nginx-rtmp echoes C0+C1 as S0+S1 and C1 as S2 when C1's version is 0
    expect(outcome).toEqual({ c1: "simple", serverDigest: undefined, serverVersion: "0.0.0.0", c2: "echo", s2: "echo" })
  })
})
