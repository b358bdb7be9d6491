/**
 * `Publisher.publish` options wired to the session: the handshake form (and `auto`'s fallback), legacy
 * connect, the onMetaData made for sources without one, and the read-ahead before connecting.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Amf0 from "../src/Amf0.ts"
import * as Commands from "../src/Commands.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType } from "../src/Message.ts"
import * as Publisher from "../src/Publisher.ts"
import { InvalidMedia } from "../src/RtmpError.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

const metaData: MediaFrame = {
  kind: "data",
  codec: "amf0",
  dts: 0,
  cts: 0,
  keyframe: false,
  config: false,
  payload: Amf0.encode(["onMetaData", new Amf0.Amf0EcmaArray({ width: 320 })])
}
/** An AVC decoder configuration (SPS 320x240-ish is not needed: only the codec is described). */
const avcConfig: MediaFrame = {
  kind: "video",
  codec: "avc",
  dts: 0,
  cts: 0,
  keyframe: true,
  config: true,
  payload: Uint8Array.of(1, 0x42, 0, 0x1e, 0xff, 0xe0, 0)
}
const keyframe: MediaFrame = { kind: "video", codec: "avc", dts: 40, cts: 0, keyframe: true, config: false, payload: Uint8Array.of(4, 5, 6) }

const run = (
  server: ScriptedServer.ScriptedServer,
  input: Stream.Stream<MediaFrame, InvalidMedia>,
  options: Publisher.PublishOptions = {}
) => Publisher.publish("rtmp://host/live/key", input, options).pipe(Effect.provide(server.layer), Effect.ensuring(server.settled))

/** Whether a C0+C1 is the digest form: C1's version field (bytes 4..7) is set. */
const isDigest = (c0c1: Uint8Array) => c0c1.subarray(5, 9).some((b) => b !== 0)

describe("Publisher options", () => {
  it.effect("handshake: simple first by default, digest on request", () =>
    Effect.gen(function*() {
      const simple = ScriptedServer.make()
      yield* run(simple, Stream.fromIterable([metaData, avcConfig, keyframe]))
      assert.isFalse(isDigest(simple.handshakes()[0]!.c0c1))
      const digest = ScriptedServer.make()
      yield* run(digest, Stream.fromIterable([metaData, avcConfig, keyframe]), { handshake: "digest" })
      assert.isTrue(isDigest(digest.handshakes()[0]!.c0c1))
      const auto = ScriptedServer.make()
      yield* run(auto, Stream.fromIterable([metaData, avcConfig, keyframe]), { handshake: "auto" })
      assert.isFalse(isDigest(auto.handshakes()[0]!.c0c1))
      assert.strictEqual(auto.connections(), 1)
    }))

  it.effect("handshake auto (the default): a server that drops the simple handshake gets a digest one, not counted as a retry", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ hangUp: (number) => number === 1 })
      const stats = yield* run(server, Stream.fromIterable([metaData, avcConfig, keyframe]), { retries: 0 })
      assert.strictEqual(server.connections(), 2)
      assert.strictEqual(stats.attempts, 2)
      // The first connection was hung up before its handshake was recorded; the one that went through is digest.
      assert.isTrue(isDigest(server.handshakes().at(-1)!.c0c1))
      assert.strictEqual(server.messages().filter((m) => m.typeId === MessageType.Video).length, 2)
    }))

  it.effect("handshake simple or digest (not auto): the same failure is final with retries 0", () =>
    Effect.gen(function*() {
      for (const handshake of ["simple", "digest"] as const) {
        const server = ScriptedServer.make({ hangUp: (number) => number === 1 })
        const error = yield* Effect.flip(run(server, Stream.fromIterable([metaData, avcConfig, keyframe]), { handshake }))
        assert.strictEqual(error._tag, "UnexpectedEof")
        assert.strictEqual(server.connections(), 1)
      }
    }))

  it.effect("enhanced: false sends the legacy connect object", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      yield* run(server, Stream.fromIterable([metaData, avcConfig, keyframe]), { enhanced: false })
      assert.deepStrictEqual(server.messages().find((m) => m.command === "connect")!.amf![2], {
        app: "live",
        type: "nonprivate",
        flashVer: Commands.flashVer,
        tcUrl: "rtmp://host/live"
      })
    }))

  it.effect("a source without onMetaData gets one first; metadata: false leaves it as it is", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const stats = yield* run(server, Stream.fromIterable([avcConfig, keyframe]))
      const media = server.messages().filter((m) =>
        m.typeId === MessageType.DataAmf0 || m.typeId === MessageType.Video
      )
      assert.deepStrictEqual(media.map((m) => m.typeId), [MessageType.DataAmf0, MessageType.Video, MessageType.Video])
      assert.deepStrictEqual(media[0]!.amf!.slice(0, 2), ["@setDataFrame", "onMetaData"])
      assert.strictEqual((media[0]!.amf![2] as Amf0.Amf0EcmaArray).entries.videocodecid, 7)
      assert.strictEqual(stats.frames, 3)

      const plain = ScriptedServer.make()
      yield* run(plain, Stream.fromIterable([avcConfig, keyframe]), { metadata: false })
      assert.deepStrictEqual(
        plain.messages().filter((m) => m.typeId === MessageType.DataAmf0 || m.typeId === MessageType.Video).map((m) => m.typeId),
        [MessageType.Video, MessageType.Video]
      )
      // A source with its own onMetaData: sent as is, once.
      const flv = ScriptedServer.make()
      yield* run(flv, Stream.fromIterable([metaData, avcConfig, keyframe]))
      const data = flv.messages().filter((m) => m.typeId === MessageType.DataAmf0)
      assert.strictEqual(data.length, 1)
      assert.deepStrictEqual(data[0]!.amf![2], new Amf0.Amf0EcmaArray({ width: 320 }))
    }))

  it.effect("reads past leading data frames before connecting: a bad first media frame connects nowhere", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const input = Stream.concat(
        Stream.fromIterable([metaData]).pipe(Stream.rechunk(1)),
        Stream.fail(new InvalidMedia({ source: "in.flv", reason: "unsupported video codec Sorenson H.263", offset: 13 }))
      )
      const stats = Publisher.makeStats()
      const error = yield* Effect.flip(run(server, input, { stats }))
      assert.strictEqual(error._tag, "InvalidMedia")
      assert.strictEqual(server.connections(), 0)
      assert.strictEqual(stats.attempts, 0)
    }))
})
