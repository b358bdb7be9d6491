/**
 * Reconnection, retry budget, backup URLs, transport fallback and interruption of `Publisher.publish`,
 * against the scripted in-memory server: what a server on each connection received.
 */
import { assert, describe, it } from "@effect/vitest"
import { Transport, type TransportShape, TlsError } from "@effect-rtmp/transport"
import { Effect, Fiber, Layer, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Amf0 from "../src/Amf0.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType } from "../src/Message.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"
import * as Publisher from "../src/Publisher.ts"
import { InvalidMedia } from "../src/RtmpError.ts"
import { bytes, frame } from "./support/frames.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"


const VIDEO = 8000
const AUDIO = 400
const PER_GOP = 10

/**
 * metadata, AVC and AAC configs (dts 0), then `gops` GOPs of 10 video frames (8000 bytes, the first a
 * keyframe) each followed by an audio frame (400 bytes); media timestamps start at 100 ms.
 */
const makeShow = (gops: number): ReadonlyArray<MediaFrame> => [
  frame("data", 0, Amf0.encode(["onMetaData", new Amf0.Amf0EcmaArray({ width: 1280, height: 720 })])),
  frame("video", 0, bytes(38, 1), { config: true, keyframe: true }),
  frame("audio", 0, Uint8Array.of(0x12, 0x10), { config: true }),
  ...Array.from({ length: gops * PER_GOP }, (_, i) => [
    frame("video", 100 + i * 40, bytes(VIDEO, i), { keyframe: i % PER_GOP === 0 }),
    frame("audio", 120 + i * 40, bytes(AUDIO, 1000 + i))
  ]).flat()
]

/** Index in `makeShow` of the keyframe of GOP `g` (0-based). */
const keyframeIndex = (g: number) => 3 + g * PER_GOP * 2

const typeOf = (f: MediaFrame) => (f.kind === "video" ? 9 : f.kind === "audio" ? 8 : 18)
const keyOf = (f: MediaFrame) => `${typeOf(f)}:${f.dts}`
const messageKey = (m: ScriptedServer.ClientMessage) => `${m.typeId}:${m.timestamp}`

const isMedia = (m: ScriptedServer.ClientMessage) =>
  m.typeId === MessageType.Audio || m.typeId === MessageType.Video || m.typeId === MessageType.DataAmf0

const mediaOn = (server: ScriptedServer.ScriptedServer, connection: number) =>
  server.messages().filter((m) => m.connection === connection && isMedia(m))

/** The FLV body of a frame, written out by hand. */
const flvBody = (f: MediaFrame): Uint8Array => {
  switch (f.kind) {
    case "data":
      return Uint8Array.of(0x02, 0x00, 13, ...Array.from("@setDataFrame", (c) => c.charCodeAt(0)), ...f.payload)
    case "video":
      return Uint8Array.of(f.keyframe || f.config ? 0x17 : 0x27, f.config ? 0 : 1, 0, 0, 0, ...f.payload)
    case "audio":
      return Uint8Array.of(0xaf, f.config ? 0 : 1, ...f.payload)
  }
}

/** One frame per batch: one write per frame, as from a live source. */
const live = (frames: ReadonlyArray<MediaFrame>) => Stream.fromIterable(frames).pipe(Stream.rechunk(1))

/** Resets connection `number` when it has received its `count`-th media message. */
const resetOn = (number: number, count: number): ScriptedServer.Behaviour["onMessage"] => (message, connection) =>
  connection.number === number && isMedia(message) && connection.messages.filter(isMedia).length === count
    ? connection.reset
    : Effect.void

const run = <E>(
  server: ScriptedServer.ScriptedServer,
  url: string,
  input: Stream.Stream<MediaFrame, E>,
  options: Publisher.PublishOptions = {}
) =>
  // A one-byte send queue: the publisher writes as the source produces, frame by frame, so that a reset
  // lands mid-stream rather than after one write of everything.
  Publisher.publish(url, input, { queue: { maxBytes: 1 }, ...options }).pipe(
    Effect.provide(server.layer),
    Effect.ensuring(server.settled)
  )

/** Advances the test clock in steps until the fiber is done: backoff delays and paced sources. */
const driveClock = <A, E>(fiber: Fiber.Fiber<A, E>, steps = 400) =>
  Effect.gen(function*() {
    for (let i = 0; i < steps && fiber.pollUnsafe() === undefined; i++) {
      yield* TestClock.adjust("500 millis")
      // Let the client and the scripted server catch up in real time before virtual time moves on: on a
      // loaded machine the clock would otherwise race ahead of the work it is meant to pace.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
    }
    return yield* Fiber.join(fiber)
  })

const recordEvents = () => {
  const events: Array<Publisher.PublishEvent> = []
  return { events, onEvent: (event: Publisher.PublishEvent) => Effect.sync(() => void events.push(event)) }
}

/** Every source frame arrived on some connection (duplicates allowed). */
const assertNothingLost = (server: ScriptedServer.ScriptedServer, show: ReadonlyArray<MediaFrame>) => {
  const received = new Set(server.messages().filter(isMedia).map(messageKey))
  const missing = show.filter((f) => !received.has(keyOf(f))).map(keyOf)
  assert.deepStrictEqual(missing, [], "source frames that reached no connection")
}

/** Connection `number` begins with onMetaData and both configs, then a keyframe; returns that keyframe's index in `show`. */
const assertResumedOnKeyframe = (
  server: ScriptedServer.ScriptedServer,
  number: number,
  show: ReadonlyArray<MediaFrame>
): number => {
  const media = mediaOn(server, number)
  assert.deepStrictEqual(media.slice(0, 3).map((m) => m.payload), show.slice(0, 3).map(flvBody), "headers first")
  const first = media[3]!
  assert.strictEqual(first.typeId, MessageType.Video)
  assert.strictEqual(first.payload[0], 0x17, "a keyframe")
  const index = show.findIndex((f) => keyOf(f) === messageKey(first))
  // From there on, the source in order, timestamps as in the source, bodies intact.
  const rest = media.slice(3)
  assert.deepStrictEqual(rest.map(messageKey), show.slice(index, index + rest.length).map(keyOf))
  rest.forEach((m, i) => assert.deepStrictEqual(m.payload, flvBody(show[index + i]!)))
  return index
}

describe("Publisher reconnection", { timeout: 20_000 }, () => {
  it.effect("after a reset mid-stream, resumes on a new connection at an acknowledged GOP's keyframe, headers first", () =>
    Effect.gen(function*() {
      const show = makeShow(8)
      // Connection 1 is reset 5 frames into GOP 6.
      const server = ScriptedServer.make({ acknowledge: true, onMessage: resetOn(1, keyframeIndex(6) + 10 + 1) })
      const stats = Publisher.makeStats()
      const { events, onEvent } = recordEvents()
      const fiber = yield* run(server, "rtmp://host/live/key", live(show), {
        retries: 3,
        windowAckSize: 20_000,
        stats,
        onEvent
      }).pipe(Effect.forkChild)
      yield* driveClock(fiber)

      assert.strictEqual(server.connections(), 2)
      assert.strictEqual(stats.attempts, 2)
      assert.strictEqual(stats.reconnects, 1)
      assert.strictEqual(stats.dropped, 0)
      assert.strictEqual(stats.frames, show.length, "each source frame counted once")
      // The client asked for acknowledgements, on each connection.
      for (const number of [1, 2]) {
        const window = server.messages().find((m) => m.connection === number && m.typeId === MessageType.WindowAckSize)
        assert.strictEqual(window && ScriptedServer.uint32Of(window), 20_000)
      }

      const resumedAt = assertResumedOnKeyframe(server, 2, show)
      // Acknowledgements honoured: GOPs 0..3 (acknowledged long before the reset) are not sent again...
      assert.isAtLeast(resumedAt, keyframeIndex(4))
      // ... and nothing after the last frame connection 1 received is skipped.
      const lastOnFirst = mediaOn(server, 1).at(-1)!
      assert.isAtMost(resumedAt, show.findIndex((f) => keyOf(f) === messageKey(lastOnFirst)) + 1)
      assertNothingLost(server, show)
      // The second connection ends the stream cleanly.
      assert.deepStrictEqual(
        server.messages().filter((m) => m.connection === 2 && m.command !== undefined).map((m) => m.command).slice(-2),
        ["FCUnpublish", "deleteStream"]
      )
      assert.deepStrictEqual(events.map((e) => e._tag), [
        "Connecting",
        "Publishing",
        "AttemptFailed",
        "Reconnecting",
        "Connecting",
        "Publishing",
        "Finished"
      ])
      const reconnecting = events.find((e) => e._tag === "Reconnecting")
      assert.strictEqual(reconnecting?._tag === "Reconnecting" && reconnecting.attempt, 2)
      assert.strictEqual(reconnecting?._tag === "Reconnecting" && reconnecting.error._tag, "ConnectionReset")
    }))

  it.effect("without acknowledgements, a new connection gets everything again from the first frame", () =>
    Effect.gen(function*() {
      const show = makeShow(4)
      const server = ScriptedServer.make({ onMessage: resetOn(1, keyframeIndex(3) + 1) })
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://host/live/key", live(show), { retries: 1, stats }).pipe(Effect.forkChild)
      yield* driveClock(fiber)
      assert.deepStrictEqual(mediaOn(server, 2).map(messageKey), show.map(keyOf))
      assert.deepStrictEqual([stats.reconnects, stats.dropped], [1, 0])
    }))

  it.effect("the replay buffer's bound drops the oldest whole GOPs, and the publish counts them as dropped", () =>
    Effect.gen(function*() {
      const show = makeShow(8)
      const server = ScriptedServer.make({ onMessage: resetOn(1, keyframeIndex(6) + 10 + 1) })
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://host/live/key", live(show), {
        retries: 1,
        stats,
        replayBufferBytes: 200_000 // 2.4 GOPs of 84 000 bytes
      }).pipe(Effect.forkChild)
      yield* driveClock(fiber)

      const resumedAt = assertResumedOnKeyframe(server, 2, show)
      // At the reset the buffer held GOP 5 and half of GOP 6: GOPs 0..4 were dropped, whole.
      assert.strictEqual(resumedAt, keyframeIndex(5))
      assert.strictEqual(stats.dropped, resumedAt - 3, "the media frames before the resumed GOP")
      assert.strictEqual(stats.reconnects, 1)
    }))

  it.effect("retries count consecutive failures: a publish that was stable for stableAfter starts the count again", () =>
    Effect.gen(function*() {
      const show = makeShow(20)
      // A keyframe every simulated second; every connection is reset after 130 media messages (~6 GOPs): even
      // after replaying up to two unacknowledged GOPs, each connection publishes for more than 2 s.
      const paced = live(show).pipe(
        Stream.mapEffect((f) => f.kind === "video" && f.keyframe && !f.config ? Effect.as(Effect.sleep("1 second"), f) : Effect.succeed(f))
      )
      const resetEvery = (count: number): ScriptedServer.Behaviour["onMessage"] => (message, connection) =>
        isMedia(message) && connection.messages.filter(isMedia).length === count ? connection.reset : Effect.void

      const stable = ScriptedServer.make({ acknowledge: true, onMessage: resetEvery(130) })
      const stats = Publisher.makeStats()
      const fiber = yield* run(stable, "rtmp://host/live/key", paced, {
        retries: 1,
        stableAfter: "2 seconds",
        windowAckSize: 20_000,
        stats
      }).pipe(Effect.forkChild)
      yield* driveClock(fiber)
      assert.isAbove(stats.attempts, 2, "more attempts in all than retries + 1")
      assert.strictEqual(stats.reconnects, stats.attempts - 1)
      assertNothingLost(stable, show)

      const unstable = ScriptedServer.make({ acknowledge: true, onMessage: resetEvery(130) })
      const failed = Publisher.makeStats()
      const error = yield* run(unstable, "rtmp://host/live/key", paced, {
        retries: 1,
        stableAfter: "1 minute",
        windowAckSize: 20_000,
        stats: failed
      }).pipe(Effect.flip, Effect.forkChild, Effect.flatMap((f) => driveClock(f)))
      assert.strictEqual(error._tag, "ConnectionReset")
      assert.strictEqual(failed.attempts, 2)
    }))

  it.effect("a reset after the last frame, before the server confirmed the end, is a failure: the next connection resumes", () =>
    Effect.gen(function*() {
      const show = makeShow(2)
      // The server answers pings, so the end waits for its confirmation (the Ping Request after
      // deleteStream); connection 1 is reset when that request arrives, instead of answering it.
      const server = ScriptedServer.make({
        answerPings: false,
        onMessage: (message, connection) =>
          message.typeId === MessageType.UserControl && connection.number === 1 &&
            connection.messages.some((m) => m.command === "deleteStream")
            ? connection.reset
            : message.typeId === MessageType.UserControl
            ? connection.send(ProtocolControl.pingResponse(ScriptedServer.userControlOf(message).value))
            : Effect.void
      })
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://host/live/key", Stream.fromIterable(show), {
        retries: 1,
        stats,
        queue: { maxBytes: 8 * 1024 * 1024 } // one write of everything
      }).pipe(Effect.forkChild)
      yield* driveClock(fiber)
      assert.strictEqual(server.connections(), 2)
      assert.strictEqual(stats.reconnects, 1)
      // Nothing was acknowledged: connection 2 gets everything again.
      assert.deepStrictEqual(mediaOn(server, 2).map(messageKey), show.map(keyOf))
    }))

  it.effect("a live source resumes after an outage at its newest keyframe, without the outage's backlog", () =>
    Effect.gen(function*() {
      const show = makeShow(12)
      // 40 ms a frame pair (a GOP each 400 ms), read on the test clock: the backoff after the reset (about
      // 500 ms) lets more than a GOP queue up.
      const paced = live(show).pipe(Stream.tap((f) => f.kind === "audio" ? Effect.sleep("40 millis") : Effect.void))
      const server = ScriptedServer.make({ onMessage: resetOn(1, keyframeIndex(3) + 1) })
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://host/live/key", paced, {
        retries: 1,
        live: true,
        queue: { maxBytes: 8 * 1024 * 1024 },
        stats
      }).pipe(
        Effect.forkChild
      )
      for (let i = 0; i < 400 && fiber.pollUnsafe() === undefined; i++) {
        yield* TestClock.adjust("20 millis")
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1)))
      }
      yield* Fiber.join(fiber)

      assert.strictEqual(stats.reconnects, 1)
      const second = mediaOn(server, 2).map(messageKey)
      const sent = new Set([...mediaOn(server, 1), ...mediaOn(server, 2)].map(messageKey))
      const missing = show.filter((f) => !sent.has(keyOf(f)))
      // Frames of the outage were skipped, audio too, all counted; after them, the stream is complete.
      assert.isAbove(missing.length, 0)
      assert.strictEqual(
        missing.length,
        (stats.droppedFrames["video:0"] ?? 0) + (stats.droppedFrames["audio:0"] ?? 0),
        "every skipped frame counted"
      )
      assert.isAbove(stats.droppedFrames["audio:0"] ?? 0, 0)
      const resumed = show.findIndex((f) => keyOf(f) === second.at(-1))
      assert.strictEqual(resumed, show.length - 1)
      const lastMissing = show.indexOf(missing.at(-1)!)
      const next = show[lastMissing + 1]!
      assert.isTrue(next.kind === "video" && next.keyframe, "the stream goes on from a keyframe")
    }))

  it.effect("a stream name refused as already publishing is retried while resuming", () =>
    Effect.gen(function*() {
      const show = makeShow(3)
      const server = ScriptedServer.make({
        onMessage: resetOn(1, keyframeIndex(2)),
        publish: (number) => number === 2 ? ScriptedServer.publishBadName : "accept"
      })
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://host/live/key", live(show), { retries: 3, stats }).pipe(Effect.forkChild)
      yield* driveClock(fiber)
      assert.strictEqual(server.connections(), 3)
      assert.strictEqual(stats.reconnects, 1)
      assertNothingLost(server, show)
    }))

  it.effect("a failure of the frame source is not retried", () =>
    Effect.gen(function*() {
      const show = makeShow(2)
      const server = ScriptedServer.make()
      const failing = Stream.concat(live(show), Stream.fail(new InvalidMedia({ source: "cam", reason: "broken" })))
      const error = yield* run(server, "rtmp://host/live/key", failing, { retries: 3 }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidMedia")
      assert.strictEqual(server.connections(), 1)
    }))

  it.effect("interrupted while publishing: sends FCUnpublish + deleteStream, then closes", () =>
    Effect.gen(function*() {
      const show = makeShow(2)
      const server = ScriptedServer.make()
      const fiber = yield* Publisher.publish("rtmp://host/live/key", Stream.concat(live(show), Stream.never)).pipe(
        Effect.provide(server.layer),
        Effect.forkChild
      )
      yield* server.awaitMessage((m) => m.typeId === MessageType.Video && m.timestamp === show.at(-2)!.dts)
      yield* Fiber.interrupt(fiber)
      yield* server.settled
      const commands = server.messages().filter((m) => m.command !== undefined).map((m) => m.command)
      assert.deepStrictEqual(commands.slice(-2), ["FCUnpublish", "deleteStream"])
      assert.strictEqual(server.messages().at(-2)!.command, "deleteStream")
    }))
})

describe("Publisher backup URLs", { timeout: 20_000 }, () => {
  it.effect("attempts go primary, backup 1, backup 2, primary, ...; every key masked in events", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ hangUp: (number) => number <= 4 })
      const { events, onEvent } = recordEvents()
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://primary/live/key-p", live(makeShow(1)), {
        backups: ["rtmp://b1:1936/app/key-1", "rtmps://b2/x/y/key-2?t=1"],
        retries: 4,
        stats,
        onEvent
      }).pipe(Effect.forkChild)
      yield* driveClock(fiber)
      assert.deepStrictEqual(
        server.endpoints().map((e) => `${e.host}:${e.port}:${e.tls !== undefined}`),
        ["primary:1935:false", "b1:1936:false", "b2:443:true", "primary:1935:false", "b1:1936:false"]
      )
      assert.deepStrictEqual(events.filter((e) => e._tag === "Connecting").map((e) => e._tag === "Connecting" && e.url), [
        "rtmp://primary/live/****",
        "rtmp://b1:1936/app/****",
        "rtmps://b2/x/y/****",
        "rtmp://primary/live/****",
        "rtmp://b1:1936/app/****"
      ])
      assert.notMatch(JSON.stringify(events), /key-/)
      // Each URL's own app and key.
      const publishes = server.messages().filter((m) => m.command === "publish")
      assert.deepStrictEqual(publishes.map((m) => m.amf?.[3]), ["key-1"])
      assert.strictEqual(stats.attempts, 5)
    }))

  it.effect("--retries N still means at most N + 1 attempts in a row, across the URLs", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ hangUp: () => true })
      const stats = Publisher.makeStats()
      const fiber = yield* run(server, "rtmp://primary/live/key", live(makeShow(1)), {
        backups: ["rtmp://b1/live/key", "rtmp://b2/live/key"],
        retries: 1,
        // Not the default auto handshake, whose one free digest try after a hang-up before S0 would add an attempt.
        handshake: "simple",
        stats
      }).pipe(Effect.flip, Effect.forkChild)
      const error = yield* driveClock(fiber)
      assert.strictEqual(error._tag, "UnexpectedEof")
      assert.deepStrictEqual(server.endpoints().map((e) => e.host), ["primary", "b1"])
    }))

  it.effect("a malformed backup URL fails before connecting, masked", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const error = yield* run(server, "rtmp://primary/live/key", live(makeShow(1)), {
        backups: ["http://b1/live/s3cret"]
      }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "InvalidUrl")
      assert.notInclude(JSON.stringify({ ...error }), "s3cret")
      assert.strictEqual(server.connections(), 0)
    }))
})

describe("Publisher transport fallback (--transport auto)", { timeout: 20_000 }, () => {
  /** The server's transport, renamed, so that events and stats tell which one carried an attempt. */
  const named = (server: ScriptedServer.ScriptedServer, name: "coroutine" | "blocking") =>
    Effect.gen(function*() {
      const shape = yield* Transport
      return { ...shape, name } satisfies TransportShape
    }).pipe(Effect.provide(server.layer))

  const runAuto = (
    primary: TransportShape,
    fallback: TransportShape,
    options: Publisher.PublishOptions = {},
    show = makeShow(1)
  ) =>
    Publisher.publish("rtmp://host/live/key", live(show), { ...options, fallbackTransport: fallback }).pipe(
      Effect.provide(Layer.succeed(Transport, primary))
    )

  it.effect("an EOF before publishing starts switches to the fallback, without costing a retry", () =>
    Effect.gen(function*() {
      const broken = ScriptedServer.make({ closeAfterS1Bytes: 102 })
      const good = ScriptedServer.make()
      const stats = Publisher.makeStats()
      const { events, onEvent } = recordEvents()
      yield* runAuto(yield* named(broken, "coroutine"), yield* named(good, "blocking"), { stats, onEvent, retries: 0 })
      yield* good.settled
      assert.deepStrictEqual([broken.connections(), good.connections()], [1, 1])
      assert.strictEqual(stats.transport, "blocking")
      assert.deepStrictEqual(
        events.filter((e) => e._tag === "Connecting").map((e) => e._tag === "Connecting" && e.transport),
        ["coroutine", "blocking"]
      )
    }))

  it.effect("stays on the fallback for the next attempts", () =>
    Effect.gen(function*() {
      const broken = ScriptedServer.make({ closeAfterS1Bytes: 102 })
      const alsoBroken = ScriptedServer.make({ closeAfterS1Bytes: 10 })
      const fiber = yield* runAuto(yield* named(broken, "coroutine"), yield* named(alsoBroken, "blocking"), { retries: 2 })
        .pipe(Effect.flip, Effect.forkChild)
      const error = yield* driveClock(fiber)
      assert.strictEqual(error._tag, "UnexpectedEof")
      assert.deepStrictEqual([broken.connections(), alsoBroken.connections()], [1, 3])
    }))

  for (
    const [name, make] of [
      ["a refused connection", () => ScriptedServer.make({}, { refuse: true })],
      ["a rejection", () => ScriptedServer.make({ publish: ScriptedServer.publishBadName })]
    ] as const
  ) {
    it.effect(`${name} does not switch`, () =>
      Effect.gen(function*() {
        const primary = make()
        const fallback = ScriptedServer.make()
        const stats = Publisher.makeStats()
        const error = yield* runAuto(yield* named(primary, "coroutine"), yield* named(fallback, "blocking"), { stats })
          .pipe(Effect.flip)
        assert.include(["ConnectFailed", "Rejected"], error._tag)
        assert.strictEqual(fallback.connections(), 0)
        assert.strictEqual(stats.transport, "coroutine")
      }))
  }

  it.effect("a TLS failure does not switch", () =>
    Effect.gen(function*() {
      const fallback = ScriptedServer.make()
      const tls: TransportShape = {
        name: "coroutine",
        connect: () => Effect.fail(new TlsError({ host: "host", code: "DEPTH_ZERO_SELF_SIGNED_CERT", reason: "self-signed" }))
      }
      const error = yield* runAuto(tls, yield* named(fallback, "blocking"), { retries: 3 }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "TlsError")
      assert.strictEqual(fallback.connections(), 0)
    }))

  it.effect("a failure after publishing started reconnects on the same transport", () =>
    Effect.gen(function*() {
      const show = makeShow(3)
      const primary = ScriptedServer.make({ onMessage: resetOn(1, keyframeIndex(1)) })
      const fallback = ScriptedServer.make()
      const stats = Publisher.makeStats()
      const fiber = yield* runAuto(yield* named(primary, "coroutine"), yield* named(fallback, "blocking"), {
        retries: 1,
        stats
      }, show).pipe(Effect.forkChild)
      yield* driveClock(fiber)
      yield* primary.settled
      assert.deepStrictEqual([primary.connections(), fallback.connections()], [2, 0])
      assert.strictEqual(stats.transport, "coroutine")
      assert.strictEqual(stats.reconnects, 1)
      assertNothingLost(primary, show)
    }))
})

describe("the end of a publish waits for the server to have read it all", { timeout: 20_000 }, () => {
  /** Runs a short publish in a fiber; returns it once the client sent deleteStream. */
  const publishUntilDeleteStream = (server: ScriptedServer.ScriptedServer) =>
    Effect.gen(function*() {
      const fiber = yield* run(server, "rtmp://host/live/key", live(makeShow(1)), { timeout: "10 seconds" }).pipe(
        Effect.forkChild
      )
      yield* server.awaitMessage((m) => m.command === "deleteStream")
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      return fiber
    })

  it.effect("a Ping Request follows deleteStream; the publish ends when its answer comes", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const fiber = yield* publishUntilDeleteStream(server)
      // No time passes: the server's Ping Response ends it.
      yield* Fiber.join(fiber)
      const last = server.messages().at(-1)!
      assert.deepStrictEqual(
        [last.typeId, ScriptedServer.userControlOf(last).eventType],
        [MessageType.UserControl, 6]
      )
    }))

  it.effect("a server that never answers pings (node-media-server) is not waited for", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ answerPings: false })
      const fiber = yield* publishUntilDeleteStream(server)
      yield* Fiber.join(fiber)
      assert.strictEqual(server.messages().at(-1)!.command, "deleteStream")
    }))

  it.effect("or when the server says NetStream.Unpublish.Success", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({
        answerPings: (ping) => ping === 1,
        onMessage: (message, connection) =>
          message.command === "deleteStream"
            ? connection.sendStatus(1, { level: "status", code: "NetStream.Unpublish.Success", description: "done" })
            : Effect.void
      })
      const fiber = yield* publishUntilDeleteStream(server)
      yield* Fiber.join(fiber)
    }))

  it.effect("a server that answers pings but not the last one holds the end for 2 s at most", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ answerPings: (ping) => ping === 1 })
      const fiber = yield* publishUntilDeleteStream(server)
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(fiber.pollUnsafe(), "still waiting before 2 s")
      yield* TestClock.adjust("1 millis")
      const stats = yield* Fiber.join(fiber)
      assert.strictEqual(stats.attempts, 1)
    }))
})
