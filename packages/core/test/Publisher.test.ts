import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Amf0 from "../src/Amf0.ts"
import * as Commands from "../src/Commands.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType } from "../src/Message.ts"
import * as Publisher from "../src/Publisher.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

const bytes = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17) & 0xff
  return out
}

const frame = (kind: MediaFrame["kind"], codec: string, dts: number, payload: Uint8Array, more: Partial<MediaFrame> = {}): MediaFrame => ({
  kind,
  codec,
  dts,
  cts: 0,
  keyframe: false,
  config: false,
  payload,
  ...more
})

const metadata = frame(
  "data",
  "amf0",
  0,
  Amf0.encode(["onMetaData", new Amf0.Amf0EcmaArray({ width: 320, height: 240, videocodecid: 7, audiocodecid: 10 })])
)

/** A show: metadata, AVC and AAC configs, a keyframe larger than a 4096-byte chunk, frames with B-frame
 * composition offsets, MP3 audio with its own flags, and timestamps running past 0xFFFFFF (extended). */
const frames: ReadonlyArray<MediaFrame> = [
  metadata,
  frame("video", "avc", 0, bytes(38, 1), { config: true, keyframe: true }),
  frame("audio", "aac", 0, Uint8Array.of(0x12, 0x10), { config: true }),
  frame("video", "avc", 0, bytes(10_000, 2), { keyframe: true, cts: 66 }),
  frame("audio", "aac", 23, bytes(300, 3)),
  frame("video", "avc", 33, bytes(900, 4), { cts: 100 }),
  frame("video", "avc", 66, bytes(400, 5), { cts: -33 }),
  frame("audio", "mp3", 70, bytes(417, 6), { audioFlags: 0x2e }),
  frame("video", "avc", 0xfffff0, bytes(500, 7), { keyframe: true }),
  frame("audio", "aac", 0xffffff, bytes(250, 8)),
  frame("video", "avc", 0x1000010, bytes(5000, 9)),
  frame("audio", "aac", 0x1000011, bytes(260, 10)),
  frame("video", "avc", 0x7fff0000, bytes(64, 11), { cts: 0x12345 })
]

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0))
const si24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]

/** The FLV tag body of a frame, written out by hand (independently of FlvMuxer). */
const flvBody = (f: MediaFrame): Uint8Array => {
  switch (f.kind) {
    case "data":
      return Uint8Array.of(0x02, 0x00, 13, ...ascii("@setDataFrame"), ...f.payload)
    case "video":
      return Uint8Array.of(((f.keyframe || f.config) ? 0x17 : 0x27), f.config ? 0 : 1, ...si24(f.cts), ...f.payload)
    case "audio":
      return f.codec === "aac"
        ? Uint8Array.of(0xaf, f.config ? 0 : 1, ...f.payload)
        : Uint8Array.of(f.audioFlags!, ...f.payload)
  }
}

const typeOf = (f: MediaFrame) => (f.kind === "video" ? 9 : f.kind === "audio" ? 8 : 18)

const isMedia = (m: ScriptedServer.ClientMessage) =>
  m.typeId === MessageType.Audio || m.typeId === MessageType.Video || m.typeId === MessageType.DataAmf0

const commandNames = (server: ScriptedServer.ScriptedServer) =>
  server.messages().filter((m) => m.command !== undefined).map((m) => m.command)

/** Runs a publish against `server`, then lets the server read everything the client wrote. */
const run = <E>(
  server: ScriptedServer.ScriptedServer,
  url: string,
  input: Stream.Stream<MediaFrame, E>,
  options: Publisher.PublishOptions = {}
) => Publisher.publish(url, input, options).pipe(Effect.provide(server.layer), Effect.ensuring(server.settled))

/** Advances the test clock in steps until the fiber is done: retries wait with backoff. */
const driveClock = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && fiber.pollUnsafe() === undefined; i++) {
      yield* TestClock.adjust("500 millis")
      // Let the client and the scripted server catch up in real time before virtual time moves on.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
    }
    return yield* Fiber.join(fiber)
  })

const fields = (error: unknown): Record<string, unknown> => ({ ...(error as object) })

for (const fragment of [1, 5, undefined]) {
  describe(`Publisher (server writes in pieces of ${fragment ?? "any"} bytes)`, { timeout: 10_000 }, () => {
    it.effect("publishes every frame as its FLV body, in order, between publish and FCUnpublish/deleteStream", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({}, { fragment })
        const events: Array<Publisher.PublishEvent> = []
        const stats = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames), {
          onEvent: (event) => Effect.sync(() => void events.push(event))
        })

        const messages = server.messages()
        assert.strictEqual(messages[0]!.typeId, MessageType.SetChunkSize)
        assert.strictEqual(ScriptedServer.uint32Of(messages[0]!), 4096)
        assert.deepStrictEqual(commandNames(server), [
          "connect",
          "releaseStream",
          "FCPublish",
          "createStream",
          "publish",
          "FCUnpublish",
          "deleteStream"
        ])
        const connect = messages.find((m) => m.command === "connect")!
        assert.deepStrictEqual(connect.amf, ["connect", 1, {
          app: "live",
          type: "nonprivate",
          flashVer: Commands.flashVer,
          tcUrl: "rtmp://host/live",
          ...Commands.enhancedCapabilities
        }])
        const publish = messages.find((m) => m.command === "publish")!
        assert.deepStrictEqual([publish.streamId, publish.amf], [1, ["publish", 0, null, "key", "live"]])
        assert.deepStrictEqual(messages.find((m) => m.command === "releaseStream")!.amf, ["releaseStream", 2, null, "key"])
        assert.deepStrictEqual(messages.find((m) => m.command === "FCPublish")!.amf, ["FCPublish", 3, null, "key"])
        assert.deepStrictEqual(messages.find((m) => m.command === "FCUnpublish")!.amf, ["FCUnpublish", 5, null, "key"])
        assert.deepStrictEqual(messages.find((m) => m.command === "deleteStream")!.amf, ["deleteStream", 6, null, 1])

        // The media: every frame, in order, with its type, timestamp and stream id, byte-equal to its FLV body.
        const media = messages.filter(isMedia)
        assert.deepStrictEqual(
          media.map((m) => [m.typeId, m.timestamp, m.streamId]),
          frames.map((f) => [typeOf(f), f.dts, 1])
        )
        media.forEach((m, i) => assert.deepStrictEqual(m.payload, flvBody(frames[i]!), `frame ${i}`))
        assert.deepStrictEqual(media[0]!.amf, [
          "@setDataFrame",
          "onMetaData",
          new Amf0.Amf0EcmaArray({ width: 320, height: 240, videocodecid: 7, audiocodecid: 10 })
        ])
        // ... all of it after publish and before FCUnpublish.
        const at = (m: ScriptedServer.ClientMessage) => messages.indexOf(m)
        assert.isTrue(at(media[0]!) > at(publish))
        assert.isTrue(at(media.at(-1)!) < at(messages.find((m) => m.command === "FCUnpublish")!))
        // After deleteStream, only the Ping Request whose answer confirms the server read everything.
        assert.strictEqual(messages.at(-2)!.command, "deleteStream")
        assert.strictEqual(messages.at(-1)!.typeId, MessageType.UserControl)
        assert.strictEqual(ScriptedServer.userControlOf(messages.at(-1)!).eventType, 6)

        assert.deepStrictEqual(stats, {
          frames: frames.length,
          bytes: server.bytesReceived(1),
          attempts: 1,
          transport: "memory",
          lastDts: frames.at(-1)!.dts,
          reconnects: 0,
          dropped: 0,
          videoFrames: frames.filter((f) => f.kind === "video" && !f.config).length,
          droppedFrames: {},
          bytesAcknowledged: 0,
          rttMs: 0 // the test clock stands still: the probe's answer came at the time it left
        })
        assert.deepStrictEqual(events, [
          { _tag: "Connecting", attempt: 1, url: "rtmp://host/live/****", transport: "memory" },
          { _tag: "Publishing", streamId: 1 },
          { _tag: "Finished" }
        ])
      }))

    it.effect("takes app, tcUrl, port and the key with its query from the URL", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({}, { fragment })
        yield* run(server, "rtmp://example.com:1936/app/instance/sk_1?token=abc", Stream.fromIterable(frames.slice(0, 2)))
        const connect = server.messages().find((m) => m.command === "connect")!
        assert.deepStrictEqual(connect.amf![2], {
          app: "app/instance",
          type: "nonprivate",
          flashVer: Commands.flashVer,
          tcUrl: "rtmp://example.com:1936/app/instance",
          ...Commands.enhancedCapabilities
        })
        const publish = server.messages().find((m) => m.command === "publish")!
        assert.deepStrictEqual(publish.amf, ["publish", 0, null, "sk_1?token=abc", "live"])
        const endpoint = server.handshakes()[0]!.endpoint
        assert.deepStrictEqual([endpoint.host, endpoint.port, endpoint.tls], ["example.com", 1936, undefined])
      }))

    it.effect("fails with Rejected on NetStream.Publish.BadName, after one attempt even with retries", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ publish: ScriptedServer.publishBadName }, { fragment })
        const stats = Publisher.makeStats()
        const events: Array<Publisher.PublishEvent> = []
        const error = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames), {
          retries: 3,
          stats,
          onEvent: (event) => Effect.sync(() => void events.push(event))
        }).pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "Rejected",
          command: "publish",
          code: "NetStream.Publish.BadName",
          description: "Already publishing"
        })
        assert.strictEqual(server.connections(), 1)
        assert.strictEqual(stats.attempts, 1)
        assert.strictEqual(stats.frames, 0)
        assert.isFalse(server.messages().some(isMedia))
        assert.deepStrictEqual(events.map((e) => e._tag), ["Connecting", "AttemptFailed"])
      }))

    it.effect("fails with Rejected carrying the code of an _error answer to connect", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ connect: ScriptedServer.connectRejected }, { fragment })
        const error = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames), { retries: 3 })
          .pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "Rejected",
          command: "connect",
          code: "NetConnection.Connect.Rejected",
          description: "Connection rejected."
        })
        assert.strictEqual(server.connections(), 1)
      }))

    it.effect("retries a handshake cut after 102 bytes of S1, and returns the last error", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ closeAfterS1Bytes: 102 }, { fragment })
        const stats = Publisher.makeStats()
        const events: Array<Publisher.PublishEvent> = []
        const fiber = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames), {
          retries: 2,
          stats,
          onEvent: (event) => Effect.sync(() => void events.push(event))
        }).pipe(Effect.flip, Effect.forkChild)
        const error = yield* driveClock(fiber)
        assert.deepStrictEqual(fields(error), {
          _tag: "UnexpectedEof",
          expected: 1536,
          received: 102,
          phase: "handshake S1"
        })
        assert.strictEqual(server.connections(), 3)
        assert.strictEqual(stats.attempts, 3)
        assert.deepStrictEqual(
          events.filter((e) => e._tag === "AttemptFailed").map((e) => e._tag === "AttemptFailed" && e.attempt),
          [1, 2, 3]
        )
      }))

    it.effect("without retries, a cut handshake fails after one connection", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ closeAfterS1Bytes: 102 }, { fragment })
        const error = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames)).pipe(Effect.flip)
        assert.strictEqual(error._tag, "UnexpectedEof")
        assert.strictEqual(server.connections(), 1)
      }))

    it.effect("fails with Timeout in phase createStream when the server never answers it (test clock)", () =>
      Effect.gen(function*() {
        const server = ScriptedServer.make({ createStream: "ignore" }, { fragment })
        const fiber = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames), { timeout: "2 seconds" })
          .pipe(Effect.flip, Effect.forkChild)
        yield* server.awaitMessage((m) => m.command === "createStream")
        for (let i = 0; i < 5; i++) yield* Effect.yieldNow
        yield* TestClock.adjust("1999 millis")
        assert.isUndefined(fiber.pollUnsafe(), "no timeout before 2 s")
        yield* TestClock.adjust("1 millis")
        const error = yield* Fiber.join(fiber)
        assert.deepStrictEqual(fields(error), { _tag: "Timeout", phase: "createStream", after: 2000 })
        assert.strictEqual(server.connections(), 1)
      }))

    it.effect("fails with Rejected when the server stops the publish mid-stream (no hang)", () =>
      Effect.gen(function*() {
        let media = 0
        const server = ScriptedServer.make({
          onMessage: (message, connection) =>
            isMedia(message) && ++media === 5
              ? connection.sendStatus(1, { level: "error", code: "NetStream.Publish.Rejected", description: "revoked" })
              : Effect.void
        }, { fragment })
        const stats = Publisher.makeStats()
        // The frames never end: only the server's rejection can end this publish.
        const endless = Stream.concat(Stream.fromIterable(frames), Stream.never)
        const error = yield* run(server, "rtmp://host/live/key", endless, { retries: 3, stats }).pipe(Effect.flip)
        assert.deepStrictEqual(fields(error), {
          _tag: "Rejected",
          command: "publish",
          code: "NetStream.Publish.Rejected",
          description: "revoked"
        })
        assert.strictEqual(server.connections(), 1)
        assert.strictEqual(stats.attempts, 1)
        assert.isAtLeast(stats.frames, 5)
      }))

    it.effect("without retries, a reset mid-stream fails the publish (reconnection: Reconnect.test.ts)", () =>
      Effect.gen(function*() {
        let media = 0
        const server = ScriptedServer.make({
          onMessage: (message, connection) => isMedia(message) && ++media === 3 ? connection.reset : Effect.void
        }, { fragment })
        const stats = Publisher.makeStats()
        const endless = Stream.concat(Stream.fromIterable(frames), Stream.never)
        const fiber = yield* run(server, "rtmp://host/live/key", endless, { retries: 0, stats }).pipe(
          Effect.flip,
          Effect.forkChild
        )
        const error = yield* driveClock(fiber)
        assert.strictEqual(error._tag, "ConnectionReset")
        assert.strictEqual(server.connections(), 1)
        assert.strictEqual(stats.attempts, 1)
      }))
  })
}

describe("Publisher", { timeout: 10_000 }, () => {
  it.effect("fails with ConnectFailed when the connection is refused", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({}, { refuse: true })
      const stats = Publisher.makeStats()
      const error = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames), { stats }).pipe(Effect.flip)
      assert.deepStrictEqual(fields(error), {
        _tag: "ConnectFailed",
        host: "host",
        port: 1935,
        code: "ECONNREFUSED",
        reason: "connection refused (in-memory transport)"
      })
      assert.strictEqual(stats.attempts, 1)
      assert.strictEqual(server.connections(), 0)
    }))

  it.effect("retries a refused connection (retryable) up to retries + 1 attempts", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({}, { refuse: true })
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(frames), { stats, retries: 2 })
        .pipe(Effect.flip, Effect.forkChild)
      const error = yield* driveClock(fiber)
      assert.strictEqual(error._tag, "ConnectFailed")
      assert.strictEqual(stats.attempts, 3)
    }))

  it.effect("fails with InvalidUrl, masked, before connecting", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const error = yield* run(server, "http://host/live/secret", Stream.fromIterable(frames)).pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidUrl")
      assert.notInclude(JSON.stringify(fields(error)), "secret")
      assert.strictEqual(server.connections(), 0)
    }))

  it.effect("an empty input still publishes and ends the stream cleanly", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const stats = yield* run(server, "rtmp://host/live/key", Stream.empty)
      assert.strictEqual(stats.frames, 0)
      assert.deepStrictEqual(commandNames(server).slice(-2), ["FCUnpublish", "deleteStream"])
    }))
})
