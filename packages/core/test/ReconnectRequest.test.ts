/**
 * `onStatus NetConnection.Connect.ReconnectRequest` (Enhanced RTMP v2): the publisher streams on to the
 * next video keyframe, ends the stream on the old connection and resumes it, without losing or repeating
 * frames, on the URL the server gave (or the same one).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Amf0 from "../src/Amf0.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType } from "../src/Message.ts"
import * as Publisher from "../src/Publisher.ts"
import { bytes, frame } from "./support/frames.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"


const PER_GOP = 10
/** metadata, configs, then GOPs of 10 video frames (the first a keyframe) each followed by an audio frame. */
const show: ReadonlyArray<MediaFrame> = [
  frame("data", 0, Amf0.encode(["onMetaData", new Amf0.Amf0EcmaArray({ width: 1280 })])),
  frame("video", 0, bytes(38, 1), { config: true, keyframe: true }),
  frame("audio", 0, Uint8Array.of(0x12, 0x10), { config: true }),
  ...Array.from({ length: 3 * PER_GOP }, (_, i) => [
    frame("video", 100 + i * 40, bytes(2000, i), { keyframe: i % PER_GOP === 0 }),
    frame("audio", 120 + i * 40, bytes(200, 1000 + i))
  ]).flat()
]

const isMedia = (m: ScriptedServer.ClientMessage) =>
  m.typeId === MessageType.Audio || m.typeId === MessageType.Video || m.typeId === MessageType.DataAmf0
const typeOf = (f: MediaFrame) => (f.kind === "video" ? 9 : f.kind === "audio" ? 8 : 18)
const keyOf = (f: MediaFrame) => `${typeOf(f)}:${f.dts}`
const messageKey = (m: ScriptedServer.ClientMessage) => `${m.typeId}:${m.timestamp}`

/**
 * The server's request, on message stream 0, as the E-RTMP v2 spec shows it, sent when connection 1 has
 * received its 8th media message (mid-GOP); `on` is the number of the connection that gets it.
 */
const request = (tcUrl: string | undefined, on = 1): ScriptedServer.Behaviour["onMessage"] => (message, connection) =>
  connection.number === on && isMedia(message) && connection.messages.filter(isMedia).length === 8
    ? connection.sendCommand(["onStatus", 0, null, {
      level: "status",
      code: "NetConnection.Connect.ReconnectRequest",
      description: "The streaming server is going down for maintenance",
      ...(tcUrl === undefined ? {} : { tcUrl })
    }])
    : Effect.void

/**
 * One frame per batch; pauses (real time) after the 10th frame, so the request sent after the 8th has
 * been read by then.
 */
const source = Stream.fromIterable(show).pipe(
  Stream.rechunk(1),
  Stream.tap((f) => f === show[9] ? Effect.sleep("30 millis") : Effect.void)
)

const run = (server: ScriptedServer.ScriptedServer, options: Publisher.PublishOptions = {}) =>
  Publisher.publish("rtmp://primary/live/key", source, options).pipe(
    Effect.provide(server.layer),
    Effect.ensuring(server.settled)
  )

describe("Publisher: NetConnection.Connect.ReconnectRequest", () => {
  it.live("goes on to the next keyframe, then resumes on the URL given, every frame once", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ onMessage: request("rtmp://other.example:1936/live2") })
      const events: Array<Publisher.PublishEvent> = []
      const stats = yield* run(server, { onEvent: (event) => Effect.sync(() => void events.push(event)) })

      assert.deepStrictEqual(server.endpoints().map((e) => `${e.host}:${e.port}`), ["primary:1935", "other.example:1936"])
      const connect2 = server.messages().find((m) => m.connection === 2 && m.command === "connect")!
      assert.deepStrictEqual(
        [(connect2.amf![2] as { app: string }).app, (connect2.amf![2] as { tcUrl: string }).tcUrl],
        ["live2", "rtmp://other.example:1936/live2"]
      )
      const publish2 = server.messages().find((m) => m.connection === 2 && m.command === "publish")!
      assert.strictEqual(publish2.amf![3], "key")

      const first = server.messages().filter((m) => m.connection === 1 && isMedia(m))
      const second = server.messages().filter((m) => m.connection === 2 && isMedia(m))
      // Connection 1: every frame up to the keyframe after the request (mid first GOP): the second GOP's.
      assert.strictEqual(first.length, 3 + 2 * PER_GOP)
      assert.deepStrictEqual(first.map(messageKey), show.slice(0, first.length).map(keyOf))
      const resumedAt = show[first.length]!
      assert.isTrue(resumedAt.kind === "video" && resumedAt.keyframe && !resumedAt.config, "cut before a keyframe")
      // Connection 2: metadata and configs, then that keyframe, then the rest.
      assert.deepStrictEqual(second.slice(0, 3).map(messageKey), show.slice(0, 3).map(keyOf))
      assert.strictEqual(second[3]!.typeId, MessageType.Video)
      assert.strictEqual(second[3]!.payload[0], 0x17, "a keyframe first")
      assert.deepStrictEqual(second.slice(3).map(messageKey), show.slice(first.length).map(keyOf))
      // The old connection's stream was ended cleanly.
      assert.isTrue(server.messages().some((m) => m.connection === 1 && m.command === "deleteStream"))

      assert.strictEqual(stats.reconnects, 1)
      assert.strictEqual(stats.attempts, 2)
      assert.strictEqual(stats.frames, show.length)
      assert.deepStrictEqual(events.filter((e) => e._tag === "Connecting").map((e) => e._tag === "Connecting" && e.url), [
        "rtmp://primary/live/****",
        "rtmp://other.example:1936/live2/****"
      ])
      assert.isFalse(events.some((e) => e._tag === "AttemptFailed"))
    }))

  it.live("with authentication: the new connection authenticates afresh, from the plain app", () =>
    Effect.gen(function*() {
      const rejected = (description: string): ScriptedServer.Reply => ({
        _error: { level: "error", code: "NetConnection.Connect.Rejected", description }
      })
      const server = ScriptedServer.make({
        // The third connection is the one that publishes (after the need-auth and challenge rounds).
        onMessage: request(undefined, 3),
        connect: (message) => {
          const app = (message.amf![2] as { app: string }).app
          return !app.includes("authmod=")
            ? rejected("[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ")
            : !app.includes("response=")
            ? rejected("[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=alice&salt=s&challenge=c")
            : "accept"
        }
      })
      const stats = yield* Publisher.publish("rtmp://alice:pw@primary/live/key", source).pipe(
        Effect.provide(server.layer),
        Effect.ensuring(server.settled)
      )
      const apps = server.messages().filter((m) => m.command === "connect").map((m) => (m.amf![2] as { app: string }).app)
      assert.strictEqual(apps.length, 6)
      assert.deepStrictEqual([apps[3], apps[4]], ["live", "live?authmod=adobe&user=alice"])
      assert.match(apps[5]!, /^live\?authmod=adobe&user=alice&challenge=[0-9a-f]{8}&response=[^&]+$/)
      assert.strictEqual(stats.attempts, 2)
      assert.strictEqual(stats.reconnects, 1)
      assert.strictEqual(stats.frames, show.length)
    }))

  it.live("audio only: reconnects at once, every frame once", () =>
    Effect.gen(function*() {
      const audioOnly = show.filter((f) => f.kind !== "video")
      const server = ScriptedServer.make({ onMessage: request(undefined) })
      const paced = Stream.fromIterable(audioOnly).pipe(
        Stream.rechunk(1),
        Stream.tap((f) => f === audioOnly[9] ? Effect.sleep("30 millis") : Effect.void)
      )
      const stats = yield* Publisher.publish("rtmp://primary/live/key", paced).pipe(
        Effect.provide(server.layer),
        Effect.ensuring(server.settled)
      )
      assert.strictEqual(stats.reconnects, 1)
      const first = server.messages().filter((m) => m.connection === 1 && isMedia(m))
      const second = server.messages().filter((m) => m.connection === 2 && isMedia(m))
      // Connection 2 starts with the metadata and the AAC config again, then the frames connection 1 did not get.
      assert.deepStrictEqual(second.slice(0, 2).map(messageKey), audioOnly.slice(0, 2).map(keyOf))
      assert.deepStrictEqual(
        [...first, ...second.slice(2)].map(messageKey),
        audioOnly.map(keyOf),
        "every frame once, in order"
      )
      assert.isBelow(first.length, audioOnly.length - 5, "the switch came before the source's end")
    }))

  it.live("without a tcUrl: reconnects to the same URL", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ onMessage: request(undefined) })
      const stats = yield* run(server)
      assert.deepStrictEqual(server.endpoints().map((e) => `${e.host}:${e.port}`), ["primary:1935", "primary:1935"])
      const received = server.messages().filter(isMedia).filter((m) => !(m.connection === 2 && m.timestamp === 0))
      assert.deepStrictEqual(received.map(messageKey), show.map(keyOf))
      assert.strictEqual(stats.reconnects, 1)
    }))
})
