import { assert, describe, it } from "@effect/vitest"
import { Transport } from "@effect-rtmp/transport"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Commands from "../src/Commands.ts"
import { MessageType, type RtmpMessage } from "../src/Message.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"
import type { SessionError } from "../src/Session.ts"
import * as Session from "../src/Session.ts"
import * as Url from "../src/Url.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

const url = (() => {
  const parsed = Url.parseResult("rtmp://host/live/key")
  if (parsed._tag === "Failure") throw parsed.failure
  return parsed.success
})()

/** Connects to the scripted server and opens a session; the connection closes with the Scope. */
const open = (options?: Session.SessionOptions) =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const connection = yield* transport.connect({ host: url.host, port: url.port })
    const session = yield* Session.open(connection, url, options)
    return { connection, session }
  })

/** Runs `use` on an open session against `server`, then lets the server read everything the client wrote. */
const withSession = <A, E>(
  server: ScriptedServer.ScriptedServer,
  use: (opened: Effect.Success<ReturnType<typeof open>>) => Effect.Effect<A, E>,
  options?: Session.SessionOptions
) =>
  Effect.gen(function*() {
    const opened = yield* open(options)
    return yield* use(opened)
  }).pipe(
    Effect.scoped,
    Effect.provide(server.layer),
    Effect.ensuring(server.settled)
  )

const video = (streamId: number, timestamp: number, size: number): RtmpMessage => {
  const payload = new Uint8Array(size)
  for (let i = 0; i < size; i++) payload[i] = (i * 7 + timestamp) & 0xff
  payload[0] = 0x17
  return { typeId: MessageType.Video, streamId, timestamp, payload }
}

const commandsOf = (messages: ReadonlyArray<ScriptedServer.ClientMessage>) =>
  messages.filter((m) => m.command !== undefined)

const isPingResponse = (timestamp: number) => (m: ScriptedServer.ClientMessage) =>
  m.typeId === MessageType.UserControl &&
  ScriptedServer.userControlOf(m).eventType === ProtocolControl.UserControlEventType.PingResponse &&
  ScriptedServer.userControlOf(m).value === timestamp

for (const fragment of [1, 7, undefined]) {
  describe(`Session (server writes in pieces of ${fragment ?? "any"} bytes)`, { timeout: 10_000 }, () => {
    it.effect("sends Set Chunk Size 4096 first, then the publish commands with their fields, then finish", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({}, { fragment })
        const big = video(1, 40, 10_000)
        yield* withSession(server, ({ connection, session }) =>
          Effect.gen(function*() {
            assert.strictEqual(session.streamId, 1)
            yield* session.send([video(1, 0, 100), big])
            yield* session.finish
            yield* connection.close
          }))

        const messages = server.messages()
        // Set Chunk Size 4096, before any command, on the control chunk stream.
        assert.strictEqual(messages[0]!.typeId, MessageType.SetChunkSize)
        assert.strictEqual(messages[0]!.chunkStreamId, 2)
        assert.strictEqual(messages[0]!.streamId, 0)
        assert.strictEqual(ScriptedServer.uint32Of(messages[0]!), 4096)
        assert.strictEqual(messages[1]!.command, "connect")

        const commands = commandsOf(messages)
        assert.deepStrictEqual(commands.map((m) => m.command), [
          "connect",
          "releaseStream",
          "FCPublish",
          "createStream",
          "publish",
          "FCUnpublish",
          "deleteStream"
        ])
        const [connect, releaseStream, fcPublish, createStream, publish, fcUnpublish, deleteStream] = commands
        assert.deepStrictEqual(connect!.amf, ["connect", 1, {
          app: "live",
          type: "nonprivate",
          flashVer: Commands.flashVer,
          tcUrl: "rtmp://host/live",
          ...Commands.enhancedCapabilities
        }])
        assert.match(Commands.flashVer, /^FMLE\//)
        assert.deepStrictEqual(releaseStream!.amf, ["releaseStream", 2, null, "key"])
        assert.deepStrictEqual(fcPublish!.amf, ["FCPublish", 3, null, "key"])
        assert.deepStrictEqual(createStream!.amf, ["createStream", 4, null])
        assert.deepStrictEqual(publish!.amf, ["publish", 0, null, "key", "live"])
        assert.strictEqual(publish!.streamId, 1)
        assert.deepStrictEqual(fcUnpublish!.amf, ["FCUnpublish", 5, null, "key"])
        assert.deepStrictEqual(deleteStream!.amf, ["deleteStream", 6, null, 1])
        for (const m of [connect, releaseStream, fcPublish, createStream]) assert.strictEqual(m!.streamId, 0)

        // Media between publish and FCUnpublish, byte-equal, on stream 1; the big one crossed 4096-byte chunks.
        const media = messages.filter((m) => m.typeId === MessageType.Video)
        assert.deepStrictEqual(media.map((m) => [m.streamId, m.timestamp, m.payload.length]), [
          [1, 0, 100],
          [1, 40, 10_000]
        ])
        assert.deepStrictEqual(media[1]!.payload, big.payload)
        assert.isTrue(messages.indexOf(media[0]!) > messages.indexOf(publish!))
        assert.isTrue(messages.indexOf(media[1]!) < messages.indexOf(fcUnpublish!))

        // Handshake: C0 is version 3, C2 echoes S1; the endpoint is the URL's.
        const [handshake] = server.handshakes()
        assert.strictEqual(handshake!.c0c1[0], 3)
        assert.deepStrictEqual(handshake!.c2, handshake!.s1)
        assert.deepStrictEqual([handshake!.endpoint.host, handshake!.endpoint.port], ["host", 1935])
        assert.strictEqual(server.connections(), 1)
      }))

    it.effect("publishes on the message stream id the server gives", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ streamId: 7 }, { fragment })
        yield* withSession(server, ({ connection, session }) =>
          Effect.gen(function*() {
            assert.strictEqual(session.streamId, 7)
            yield* session.send([video(session.streamId, 0, 10)])
            yield* session.finish
            yield* connection.close
          }))
        const publish = server.messages().find((m) => m.command === "publish")
        const deleteStream = server.messages().find((m) => m.command === "deleteStream")
        assert.strictEqual(publish!.streamId, 7)
        assert.deepStrictEqual(deleteStream!.amf, ["deleteStream", 6, null, 7])
      }))

    it.effect("answers each Ping Request with a Ping Response of the same timestamp", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({
          // One while the client waits for createStream, one while it publishes.
          onMessage: (message, connection) =>
            message.command === "connect" ? connection.send(ProtocolControl.pingRequest(12345)) : Effect.void,
          onPublishing: (connection) => connection.send(ProtocolControl.pingRequest(0xfffffffe))
        }, { fragment })
        yield* withSession(server, ({ connection, session }) =>
          Effect.gen(function*() {
            yield* server.awaitMessage(isPingResponse(0xfffffffe))
            yield* session.finish
            yield* connection.close
          }))
        const responses = server.messages().filter((m) =>
          m.typeId === MessageType.UserControl &&
          ScriptedServer.userControlOf(m).eventType === ProtocolControl.UserControlEventType.PingResponse
        )
        assert.deepStrictEqual(responses.map((m) => ScriptedServer.userControlOf(m).value), [12345, 0xfffffffe])
        for (const response of responses) {
          assert.strictEqual(response.streamId, 0)
          assert.strictEqual(response.chunkStreamId, 2)
          assert.strictEqual(response.payload.length, 6)
        }
      }))

    it.effect("acknowledges the bytes received each time they pass the server's window", () =>
      Effect.gen(function*() {
        const window = 1000
        let total = 0
        const server = ScriptedServer.make({
          windowAckSize: window,
          onPublishing: (connection) =>
            Effect.gen(function*() {
              for (let i = 0; i < 40; i++) {
                yield* connection.sendCommand(["onBWDone", 0, null, "x".repeat(60 + i)])
              }
              yield* connection.send(ProtocolControl.pingRequest(0xa5a5))
              total = connection.bytesSent()
            })
        }, { fragment })
        yield* withSession(server, ({ connection, session }) =>
          Effect.gen(function*() {
            // The ping is the last thing the server sent: once it is answered, every byte was counted.
            yield* server.awaitMessage(isPingResponse(0xa5a5))
            yield* session.finish
            yield* connection.close
          }))
        const acks = server.messages().filter((m) => m.typeId === MessageType.Acknowledgement)
        const sequence = acks.map(ScriptedServer.uint32Of)
        assert.isAbove(total, 4 * window)
        assert.isAtLeast(sequence.length, 3)
        assert.isAtLeast(sequence[0]!, window)
        for (let i = 1; i < sequence.length; i++) assert.isAtLeast(sequence[i]! - sequence[i - 1]!, window)
        assert.isAtMost(sequence[sequence.length - 1]!, total)
        // No window left unacknowledged (the largest single write is under 200 bytes after connect).
        assert.isBelow(total - sequence[sequence.length - 1]!, window + 200)
        for (const ack of acks) {
          assert.strictEqual(ack.streamId, 0)
          assert.strictEqual(ack.chunkStreamId, 2)
        }
        if (fragment === 1) {
          // Byte by byte, each acknowledgement falls exactly on a window boundary.
          assert.deepStrictEqual(sequence, Array.from({ length: Math.floor(total / window) }, (_, i) => (i + 1) * window))
        }
      }))

    it.effect("fails with Rejected when the server answers publish with NetStream.Publish.BadName", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ publish: ScriptedServer.publishBadName }, { fragment })
        const error = yield* withSession(server, () => Effect.void).pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "Rejected",
          command: "publish",
          code: "NetStream.Publish.BadName",
          description: "Already publishing"
        })
        // Nothing after the refused publish: no media, no FCUnpublish.
        assert.strictEqual(commandsOf(server.messages()).at(-1)!.command, "publish")
      }))

    it.effect("fails with Rejected when the server answers connect with _error", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ connect: ScriptedServer.connectRejected }, { fragment })
        const error = yield* withSession(server, () => Effect.void).pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "Rejected",
          command: "connect",
          code: "NetConnection.Connect.Rejected",
          description: "Connection rejected."
        })
        assert.deepStrictEqual(commandsOf(server.messages()).map((m) => m.command), ["connect"])
      }))

    it.effect("fails with Rejected when the server answers createStream with _error", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({
          createStream: { _error: { level: "error", code: "NetConnection.Call.Failed", description: "no" } }
        }, { fragment })
        const error = yield* withSession(server, () => Effect.void).pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "Rejected",
          command: "createStream",
          code: "NetConnection.Call.Failed",
          description: "no"
        })
      }))

    it.effect("is not stopped by _error answers to releaseStream and FCPublish, which many servers send", () =>
      Effect.gen(function*() {
        const callFailed = (transactionId: number) => [
          "_error",
          transactionId,
          null,
          { level: "error", code: "NetConnection.Call.Failed", description: "Method not found" }
        ]
        const server = ScriptedServer.make({
          onMessage: (message, connection) =>
            message.command === "releaseStream" || message.command === "FCPublish" ||
              message.command === "FCUnpublish"
              ? connection.sendCommand(callFailed(message.amf![1] as number))
              : Effect.void
        }, { fragment })
        yield* withSession(server, ({ connection, session }) =>
          Effect.gen(function*() {
            assert.strictEqual(session.streamId, 1)
            yield* session.send([video(1, 0, 10)])
            yield* session.finish
            yield* connection.close
          }))
        assert.deepStrictEqual(commandsOf(server.messages()).map((m) => m.command), [
          "connect",
          "releaseStream",
          "FCPublish",
          "createStream",
          "publish",
          "FCUnpublish",
          "deleteStream"
        ])
      }))

    it.effect("fails with ProtocolError when the createStream result has no stream id", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({
          createStream: "ignore",
          onMessage: (message, connection) =>
            message.command === "createStream" ? connection.sendCommand(["_result", 4, null]) : Effect.void
        }, { fragment })
        const error = yield* withSession(server, () => Effect.void).pipe(Effect.flip)
        assert.strictEqual(error._tag, "ProtocolError")
      }))

    it.effect("fails with UnexpectedEof in phase handshake S1 when the server closes after 102 bytes of S1", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ closeAfterS1Bytes: 102 }, { fragment })
        const error = yield* withSession(server, () => Effect.void).pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "UnexpectedEof",
          expected: 1536,
          received: 102,
          phase: "handshake S1"
        })
      }))

    it.effect("fails with ConnectionReset when the server closes while connect is awaited", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({
          connect: "ignore",
          onMessage: (message, connection) => message.command === "connect" ? connection.end : Effect.void
        }, { fragment })
        const error = yield* withSession(server, () => Effect.void).pipe(Effect.flip)
        assert.strictEqual(error._tag, "ConnectionReset")
      }))

    it.effect("times out createStream after the limit (test clock)", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ createStream: "ignore" }, { fragment })
        const fiber = yield* withSession(server, () => Effect.void, { timeout: "2 seconds" }).pipe(
          Effect.flip,
          Effect.forkChild
        )
        yield* server.awaitMessage((m) => m.command === "createStream")
        for (let i = 0; i < 5; i++) yield* Effect.yieldNow
        yield* TestClock.adjust("1999 millis")
        assert.isUndefined(fiber.pollUnsafe(), "no timeout before 2 s")
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(fiber)
        assert.deepStrictEqual(fields(error), { _tag: "Timeout", phase: "createStream", after: 2000 })
      }))

    it.effect("watch fails with Rejected when the server stops the publish with an error onStatus", () =>
      Effect.gen(function*() {
        let media = 0
        const server = ScriptedServer.make({
          onMessage: (message, connection) =>
            message.typeId === MessageType.Video && ++media === 3
              ? connection.sendStatus(1, {
                level: "error",
                code: "NetStream.Publish.Rejected",
                description: "key revoked"
              })
              : Effect.void
        }, { fragment })
        const error = yield* withSession(server, ({ session }) =>
          Effect.gen(function*() {
            yield* session.send([video(1, 0, 10), video(1, 33, 10), video(1, 66, 10)])
            return yield* session.watch
          })).pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "Rejected",
          command: "publish",
          code: "NetStream.Publish.Rejected",
          description: "key revoked"
        })
      }))

    it.effect("watch ignores status and unknown commands, and fails with ConnectionReset at the end", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({
          onPublishing: (connection) =>
            Effect.gen(function*() {
              yield* connection.sendStatus(1, { level: "status", code: "NetStream.Publish.Idle", description: "" })
              yield* connection.sendCommand(["onBWDone", 0, null, 8192])
              yield* connection.send(ProtocolControl.streamBegin(1), ProtocolControl.setBufferLength(1, 100))
              yield* connection.end
            })
        }, { fragment })
        const error = yield* withSession(server, ({ session }) => session.watch).pipe(Effect.flip)
        assert.strictEqual(error._tag, "ConnectionReset")
      }))
  })
}

/** The fields of an error, for comparison. */
const fields = (error: SessionError): Record<string, unknown> => ({ ...error })
