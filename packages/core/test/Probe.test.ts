import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Amf0 from "../src/Amf0.ts"
import { certificateOf } from "../src/internal/probeValues.ts"
import { MessageType } from "../src/Message.ts"
import * as Probe from "../src/Probe.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

const key = "sEcReT-kEy"
const url = `rtmp://ingest.example/live/${key}`

/** Probes the scripted server, then lets it read everything the client wrote. */
const probeOn = (server: ScriptedServer.ScriptedServer, options?: Probe.ProbeOptions, target = url) =>
  Probe.probe(target, { pingWait: "300 millis", ...options }).pipe(
    Effect.provide(server.layer),
    Effect.ensuring(server.settled)
  )

const sentText = (server: ScriptedServer.ScriptedServer) =>
  server.messages().map((m) => new TextDecoder("latin1").decode(m.payload)).join("\n")

describe("Probe", { timeout: 10_000 }, () => {
  for (const fragment of [1, undefined]) {
    it.live(`reports what an nginx-like server says and advertises (pieces of ${fragment ?? "any"} bytes)`, () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ chunkSize: 8192, windowAckSize: 2_500_000, peerBandwidth: 3_000_000 }, { fragment })
        const report = yield* probeOn(server)
        assert.strictEqual(report.url, "rtmp://ingest.example/live/****")
        assert.strictEqual(report.transport, "memory")
        assert.strictEqual(report.server.fmsVer, "FMS/3,0,1,123")
        assert.strictEqual(report.server.capabilities, 31)
        assert.strictEqual(report.server.mode, null)
        assert.strictEqual(report.server.level, "status")
        assert.strictEqual(report.server.code, "NetConnection.Connect.Success")
        assert.strictEqual(report.server.description, "Connection succeeded.")
        assert.strictEqual(report.server.objectEncoding, 0)
        assert.strictEqual(report.server.handshakeVersion, "0.0.0.0")
        assert.deepStrictEqual(report.server.properties, { fmsVer: "FMS/3,0,1,123", capabilities: 31 })
        assert.deepStrictEqual(report.advertised, {
          chunkSize: 8192,
          windowAckSize: 2_500_000,
          peerBandwidth: { size: 3_000_000, limitType: "dynamic" }
        })
        assert.strictEqual(report.enhanced, null)
        assert.isNotNull(report.rttMs)
        assert.isAtLeast(report.rttMs!, 0)
        assert.isAtMost(report.rttMs!, 300)
        assert.isAtLeast(report.connectMs, 0)
        assert.strictEqual(report.tls, null)

        // connect and the Ping Request only: never createStream, publish or the stream key.
        const commands = server.messages().flatMap((m) => m.command === undefined ? [] : [m.command])
        assert.deepStrictEqual(commands, ["connect"])
        const pings = server.messages().filter((m) =>
          m.typeId === MessageType.UserControl &&
          ScriptedServer.userControlOf(m).eventType === ProtocolControl.UserControlEventType.PingRequest
        )
        assert.strictEqual(pings.length, 1)
        const connect = server.messages().find((m) => m.command === "connect")!
        const object = connect.amf![2] as Amf0.Amf0Object
        assert.strictEqual(object["app"], "live")
        assert.strictEqual(object["tcUrl"], "rtmp://ingest.example/live")
        assert.notInclude(sentText(server), key)
      }))
  }

  it.live("reports null round-trip time for a server that never answers pings", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ answerPings: false })
      const report = yield* probeOn(server, { pingWait: "100 millis" })
      assert.strictEqual(report.rttMs, null)
      assert.strictEqual(report.server.code, "NetConnection.Connect.Success")
    }))

  it.live("reads Enhanced RTMP capabilities, mode and extra properties from the connect _result", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({
        connect: "ignore",
        onMessage: (message, connection) =>
          message.command === "connect"
            ? connection.send(ProtocolControl.windowAckSize(60000)).pipe(Effect.andThen(connection.sendCommand([
              "_result",
              1,
              {
                fmsVer: "FMS/5,0,17",
                capabilities: 255,
                mode: 1,
                fourCcList: ["av01", "hvc1", "Opus"],
                videoFourCcInfoMap: new Amf0.Amf0EcmaArray({ av01: 4, hvc1: 6, "*": 4 }),
                audioFourCcInfoMap: { Opus: 4 },
                capsEx: 1
              },
              { level: "status", code: "NetConnection.Connect.Success", description: "ok", objectEncoding: 3, data: new Amf0.Amf0EcmaArray({ version: "5,0,17" }) }
            ])))
            : Effect.void
      })
      const report = yield* probeOn(server)
      assert.strictEqual(report.server.fmsVer, "FMS/5,0,17")
      assert.strictEqual(report.server.capabilities, 255)
      assert.strictEqual(report.server.mode, 1)
      assert.strictEqual(report.server.objectEncoding, 3)
      assert.deepStrictEqual(report.server.information?.["data"], { version: "5,0,17" })
      assert.deepStrictEqual(report.enhanced, {
        fourCcList: ["av01", "hvc1", "Opus"],
        videoFourCcInfoMap: { av01: 4, hvc1: 6, "*": 4 },
        audioFourCcInfoMap: { Opus: 4 },
        capsEx: 1
      })
      assert.deepStrictEqual(report.advertised, { chunkSize: null, windowAckSize: 60000, peerBandwidth: null })
    }))

  it.live("fails with Rejected when the server refuses connect", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ connect: ScriptedServer.connectRejected })
      const error = yield* Effect.flip(probeOn(server))
      assert.strictEqual(error._tag, "Rejected")
      if (error._tag === "Rejected") {
        assert.strictEqual(error.command, "connect")
        assert.strictEqual(error.code, "NetConnection.Connect.Rejected")
      }
    }))

  it.live("fails with Timeout (phase connect) when connect is never answered", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ connect: "ignore" })
      const error = yield* Effect.flip(probeOn(server, { timeout: "200 millis" }))
      assert.strictEqual(error._tag, "Timeout")
      if (error._tag === "Timeout") assert.strictEqual(error.phase, "connect")
    }))

  it.live("fails with UnexpectedEof when the server hangs up during the handshake", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ closeAfterS1Bytes: 100 })
      const error = yield* Effect.flip(probeOn(server))
      assert.strictEqual(error._tag, "UnexpectedEof")
    }))

  it.live("fails with ConnectFailed when the connection is refused, InvalidUrl for a bad URL", () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(probeOn(ScriptedServer.make({}, { refuse: true })))
      assert.strictEqual(refused._tag, "ConnectFailed")
      const invalid = yield* Effect.flip(probeOn(ScriptedServer.make(), {}, "http://host/live/key"))
      assert.strictEqual(invalid._tag, "InvalidUrl")
    }))

  it.live("reports the TLS details of an rtmps connection (the certificate when the transport gives it)", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const report = yield* probeOn(server, {}, `rtmps://ingest.example/live/${key}`)
      assert.deepStrictEqual(report.tls, { protocol: "memory", cipher: "none", servername: "ingest.example", certificate: null })
      assert.strictEqual(report.url, "rtmps://ingest.example/live/****")
    }))
})

describe("certificateOf", () => {
  it("reads Node's PeerCertificate shape", () => {
    const info = certificateOf({
      protocol: "TLSv1.3",
      peerCertificate: {
        subject: { CN: "localhost", OU: ["a", "b"] },
        issuer: { CN: "effect-rtmp test CA" },
        subjectaltname: "DNS:localhost, IP Address:127.0.0.1",
        valid_from: "Nov 24 06:00:00 2026 GMT",
        valid_to: "Nov 26 06:00:00 2026 GMT",
        fingerprint256: "AA:BB"
      }
    })
    assert.deepStrictEqual(info, {
      subject: "CN=localhost, OU=a, OU=b",
      issuer: "CN=effect-rtmp test CA",
      subjectAltName: "DNS:localhost, IP Address:127.0.0.1",
      validFrom: "2026-11-24T06:00:00.000Z",
      validTo: "2026-11-26T06:00:00.000Z",
      fingerprint256: "AA:BB"
    })
  })

  it("is null without a certificate (or an empty one, as Node gives when none was sent)", () => {
    assert.strictEqual(certificateOf({ protocol: "TLSv1.3" }), null)
    assert.strictEqual(certificateOf({ peerCertificate: {} }), null)
  })
})
