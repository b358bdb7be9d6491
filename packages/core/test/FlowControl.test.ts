/**
 * Flow control of live publishes: the sender waits while too much is unacknowledged, with any server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType } from "../src/Message.ts"
import * as Publisher from "../src/Publisher.ts"
import { bytes, frame } from "./support/frames.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

/** 3 MB of video in 20 kB frames (a keyframe every 30), with audio: more than the 250 kB allowed in flight. */
const show: ReadonlyArray<MediaFrame> = [
  frame("video", 0, bytes(38, 1), { config: true, keyframe: true }),
  ...Array.from({ length: 150 }, (_, i) => [
    frame("video", i * 33, bytes(20_000, i), { keyframe: i % 30 === 0 }),
    frame("audio", i * 33 + 10, bytes(300, 1000 + i))
  ]).flat()
]

const media = (server: ScriptedServer.ScriptedServer) =>
  server.messages().filter((m) => m.typeId === MessageType.Video || m.typeId === MessageType.Audio)

describe("flow control (live)", { timeout: 20_000 }, () => {
  // The test clock stands still: a sender stuck waiting for an acknowledgement would never finish.
  it.effect("a server acknowledging every 125 000 bytes as asked: every frame goes through", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ acknowledge: true })
      const stats = yield* Publisher.publish("rtmp://host/live/key", Stream.fromIterable(show), {
        live: true,
        queue: { maxDurationMs: 60_000 }
      }).pipe(Effect.provide(server.layer))
      assert.strictEqual(media(server).length, show.length)
      assert.isAbove(stats.bytesAcknowledged, 2_500_000)
      const window = server.messages().find((m) => m.typeId === MessageType.WindowAckSize)
      assert.strictEqual(window && ScriptedServer.uint32Of(window), 125_000, "a live publish asks for 125 000")
    }))

  it.effect("a server acknowledging only every 1 MB, whatever it is asked: no stall, every frame goes through", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ acknowledge: true, acknowledgeEvery: 1_000_000 })
      yield* Publisher.publish("rtmp://host/live/key", Stream.fromIterable(show), {
        live: true,
        queue: { maxDurationMs: 60_000 }
      }).pipe(Effect.provide(server.layer))
      assert.strictEqual(media(server).length, show.length)
    }))
})
