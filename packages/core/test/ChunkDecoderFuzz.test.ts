/**
 * The chunk decoder against hostile or broken servers (issue 3): property tests with fixed seeds over random
 * and mutated chunk streams (see `support/fuzzCases.ts` for what is generated and checked), and the attacks a
 * server can make on the decoder's limits, each of which must end in a prompt `ProtocolError` with bounded
 * memory. `npm run fuzz` runs the same properties for longer with fresh seeds.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Amf0 from "../src/Amf0.ts"
import * as ChunkDecoder from "../src/ChunkDecoder.ts"
import * as ChunkEncoder from "../src/ChunkEncoder.ts"
import * as Commands from "../src/Commands.ts"
import type { DecodedMessage } from "../src/Message.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"
import { ProtocolError } from "../src/RtmpError.ts"
import {
  ChunkScenario,
  type Modules,
  RandomChunksScenario,
  runChunkScenario,
  runRandomChunksScenario
} from "./support/fuzzCases.ts"

const modules: Modules = { Amf0, ChunkDecoder, ChunkEncoder, Commands, ProtocolControl, ProtocolError }

const MiB = 1024 * 1024

// ---------------------------------------------------------------------------------------------------------
// Wire helpers
// ---------------------------------------------------------------------------------------------------------

const basic = (fmt: number, csid: number): Array<number> =>
  csid < 64
    ? [(fmt << 6) | csid]
    : csid < 320
    ? [fmt << 6, csid - 64]
    : [(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >>> 8]
const u24 = (v: number) => [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]

/** A fmt 0 header: timestamp (extended when >= 0xFFFFFF), length, type, message stream id 1. */
const fmt0 = (csid: number, length: number, typeId = 9, timestamp = 0): Array<number> => [
  ...basic(0, csid),
  ...u24(Math.min(timestamp, 0xffffff)),
  ...u24(length),
  typeId,
  1,
  0,
  0,
  0,
  ...(timestamp >= 0xffffff ? u32(timestamp) : [])
]

const setChunkSize = (size: number): Uint8Array => new Uint8Array([...fmt0(2, 4, 1), ...u32(size)])

const concat = (pieces: ReadonlyArray<Uint8Array | ReadonlyArray<number>>): Uint8Array => {
  let total = 0
  for (const p of pieces) total += p.length
  const out = new Uint8Array(total)
  let offset = 0
  for (const p of pieces) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** Pushes `bytes` in pieces of `size`; stops at the first ProtocolError. Never lets a throw escape unnoticed. */
const feed = (decoder: ChunkDecoder.ChunkDecoder, bytes: Uint8Array, size: number, watch?: () => void) => {
  const messages: Array<DecodedMessage> = []
  for (let offset = 0; offset < bytes.length; offset += size) {
    const result = decoder.push(bytes.subarray(offset, offset + size))
    watch?.()
    if (Result.isFailure(result)) {
      assert.instanceOf(result.failure, ProtocolError)
      return { messages, error: result.failure.reason, fed: offset + size }
    }
    messages.push(...result.success)
  }
  return { messages, error: undefined, fed: bytes.length }
}

const elapsed = <A>(f: () => A): [A, number] => {
  const start = performance.now()
  const a = f()
  return [a, performance.now() - start]
}

describe("ChunkDecoder under hostile input", () => {
  describe("properties (fixed seeds)", () => {
    it.prop(
      "mutated valid streams: messages or a ProtocolError, within the limits, whatever the fragmentation",
      [ChunkScenario],
      ([scenario]) => {
        runChunkScenario(modules, scenario)
      },
      { timeout: 10_000, arbitrary: { runs: 250, seed: 1935, size: 30 } }
    )

    it.prop(
      "random bytes and random chunk headers: messages or a ProtocolError, within the limits",
      [RandomChunksScenario],
      ([scenario]) => {
        runRandomChunksScenario(modules, scenario)
      },
      { timeout: 10_000, arbitrary: { runs: 400, seed: 443, size: 30 } }
    )
  })

  describe("Set Chunk Size", () => {
    for (
      const [size, name] of [
        [0, "0"],
        [0x80000000, "negative (high bit set)"],
        [0xffffffff, "0xFFFFFFFF"],
        [0x7fffffff, "2^31-1, over the 16 MiB cap"],
        [16 * MiB + 1, "the cap + 1"]
      ] as const
    ) {
      it(`of ${name} is a ProtocolError, whole or byte by byte`, () => {
        for (const piece of [16, 1]) {
          const decoder = ChunkDecoder.make()
          const { error } = feed(decoder, setChunkSize(size), piece)
          assert.match(error ?? "", /Set Chunk Size \d+ is outside the accepted range 1\.\.16777216/)
          assert.strictEqual(decoder.chunkSize, 128)
          assert.strictEqual(decoder.bufferedBytes, 0)
        }
      })
    }

    it("of exactly the cap is accepted", () => {
      const decoder = ChunkDecoder.make()
      assert.isUndefined(feed(decoder, setChunkSize(16 * MiB), 16).error)
      assert.strictEqual(decoder.chunkSize, 16 * MiB)
    })
  })

  describe("Abort", () => {
    it("shorter than 4 bytes is a ProtocolError; of an unknown or impossible chunk stream, ignored", () => {
      const abort = (payload: ReadonlyArray<number>) => new Uint8Array([...fmt0(2, payload.length, 2), ...payload])
      assert.match(feed(ChunkDecoder.make(), abort([0, 4]), 1).error ?? "", /Abort message of 2 bytes/)
      for (const csid of [0, 1, 9, 65600, 0xffffffff]) {
        const decoder = ChunkDecoder.make()
        const { error, messages } = feed(decoder, concat([abort(u32(csid)), fmt0(4, 1), [7]]), 1)
        assert.isUndefined(error)
        assert.deepStrictEqual(messages.map((m) => m.typeId), [2, 9])
      }
    })
  })

  describe("message length 0xFFFFFF", () => {
    it("on 64 chunk streams holds 64 KiB each; a 65th chunk stream is a ProtocolError", () => {
      const decoder = ChunkDecoder.make()
      const chunk = new Uint8Array(128)
      const wire = concat(Array.from({ length: 64 }, (_, i) => concat([fmt0(3 + i, 0xffffff), chunk])))
      const [{ error, messages }, ms] = elapsed(() => feed(decoder, wire, 1000))
      assert.isUndefined(error)
      assert.strictEqual(messages.length, 0)
      // Memory follows the bytes received (in 64 KiB steps), not the announced 64 x 16 MiB.
      assert.strictEqual(decoder.bufferedBytes, 64 * 64 * 1024)
      assert.match(feed(decoder, concat([fmt0(67, 0xffffff), chunk]), 1000).error ?? "", /more than 64 chunk streams/)
      assert.strictEqual(decoder.bufferedBytes, 0)
      assert.isBelow(ms, 5000)
    })

    it("in large chunks fails at the header that would pass maxBufferedBytes, before its payload", () => {
      const decoder = ChunkDecoder.make({ maxBufferedBytes: MiB })
      // Chunks of 128 KiB: the first chunk of each message is charged 128 KiB when its header is read; 8 fit
      // in 1 MiB, the 9th header is refused before any of its 128 KiB arrive.
      const chunk = new Uint8Array(128 * 1024)
      const pieces = [setChunkSize(128 * 1024), ...Array.from({ length: 9 }, (_, i) => concat([fmt0(3 + i, 0xffffff), chunk]))]
      const ninthHeaderEnd = concat(pieces.slice(0, 9)).length + 12
      let most = 0
      const { error, fed } = feed(decoder, concat(pieces), 1000, () => (most = Math.max(most, decoder.bufferedBytes)))
      assert.match(error ?? "", /incomplete messages hold more than 1048576 bytes/)
      assert.isAtMost(fed, ninthHeaderEnd + 1000)
      assert.isAtMost(most, MiB + 17)
    })

    it("sent for real fails once its buffer would pass maxBufferedBytes, never holding more", () => {
      const decoder = ChunkDecoder.make({ maxBufferedBytes: MiB })
      const pieces: Array<Uint8Array | Array<number>> = [setChunkSize(4096), fmt0(4, 0xffffff)]
      const chunk = new Uint8Array(4096).fill(0xaa)
      for (let i = 0; i < 400; i++) pieces.push(i === 0 ? chunk : [0xc4], ...(i === 0 ? [] : [chunk]))
      let most = 0
      const { error, fed } = feed(decoder, concat(pieces), 3000, () => (most = Math.max(most, decoder.bufferedBytes)))
      assert.match(error ?? "", /more than 1048576 bytes/)
      assert.isAtMost(most, MiB + 17)
      // Promptly: at the chunk that would go past 1 MiB (chunk 257), not at the end of the input.
      assert.isBelow(fed, 257 * 4097 + 3000 + 64)
    })
  })

  describe("chunk stream ids", () => {
    const everyChunkStream = concat(Array.from({ length: 65598 }, (_, i) => fmt0(2 + i, 0, 20)))

    it("65 598 distinct ids (2..65599): a ProtocolError at the 65th, with the default limit", () => {
      const decoder = ChunkDecoder.make()
      const { error, messages } = feed(decoder, everyChunkStream, 4096)
      assert.match(error ?? "", /more than 64 chunk streams/)
      assert.isAtMost(messages.length, 64)
      assert.strictEqual(decoder.bufferedBytes, 0)
    })

    it("all of them when allowed, in linear time and holding nothing", () => {
      const decoder = ChunkDecoder.make({ maxChunkStreams: 65598 })
      const [{ error, messages }, ms] = elapsed(() => feed(decoder, everyChunkStream, 4096))
      assert.isUndefined(error)
      assert.strictEqual(messages.length, 65598)
      assert.strictEqual(messages[65597]!.chunkStreamId, 65599)
      assert.strictEqual(decoder.bufferedBytes, 0)
      assert.isBelow(ms, 5000)
    })

    it("incomplete messages on many chunk streams are bounded by maxBufferedBytes", () => {
      // One byte of a 0xFFFFFF message on each stream costs 64 KiB: 1024 of them fill the default 64 MiB.
      const decoder = ChunkDecoder.make({ maxChunkStreams: 65598 })
      const pieces = [setChunkSize(1), ...Array.from({ length: 2000 }, (_, i) => concat([fmt0(3 + i, 0xffffff), [0]]))]
      let most = 0
      let error: string | undefined
      for (const piece of pieces) {
        // One message per push, split inside its header so that a partial header is held between pushes.
        const cut = piece.length - 3
        for (const part of [piece.subarray(0, cut), piece.subarray(cut)]) {
          const result = decoder.push(part)
          if (Result.isFailure(result)) error ??= result.failure.reason
          most = Math.max(most, decoder.bufferedBytes)
        }
        if (error !== undefined) break
      }
      assert.match(error ?? "", /more than 67108864 bytes/)
      // A buffer starts at 64 KiB: 1024 of them (and a partial header), not one more.
      assert.isAtLeast(most, 64 * MiB)
      assert.isAtMost(most, 64 * MiB + 17)
    })
  })

  describe("extended timestamps", () => {
    it("a flood of 100 000 messages with extended timestamps decodes in linear time, holding nothing", () => {
      const one = [...fmt0(4, 1, 8, 0x1000000), 0xee, 0xc4, ...u32(0x1000000), 0xef] // then a fmt 3 message
      const wire = concat(Array.from({ length: 50_000 }, () => one))
      const decoder = ChunkDecoder.make()
      const [{ error, messages }, ms] = elapsed(() => feed(decoder, wire, 1500))
      assert.isUndefined(error)
      assert.strictEqual(messages.length, 100_000)
      assert.strictEqual(messages[1]!.timestamp, 0x2000000)
      assert.strictEqual(decoder.bufferedBytes, 0)
      assert.isBelow(ms, 5000)
    })

    it("on every 1-byte chunk of a 0xFFFFFF message: bounded by maxBufferedBytes, a prompt ProtocolError", () => {
      // 64 KiB of buffer fit in 100 000 bytes, 128 KiB do not: the chunk that brings byte 65 537 is refused.
      const decoder = ChunkDecoder.make({ maxBufferedBytes: 100_000 })
      const ext = u32(0xabcdef01)
      const pieces: Array<ReadonlyArray<number>> = [[...setChunkSize(1)], [...fmt0(4, 0xffffff, 9, 0xabcdef01), 0]]
      for (let i = 0; i < 100_000; i++) pieces.push([0xc4, ...ext, i & 0xff])
      let most = 0
      const [{ error, fed }, ms] = elapsed(() =>
        feed(decoder, concat(pieces), 4096, () => (most = Math.max(most, decoder.bufferedBytes)))
      )
      assert.match(error ?? "", /more than 100000 bytes/)
      assert.isAtMost(most, 65536 + 17)
      assert.isBelow(fed, 16 + 18 + 65536 * 6 + 4096)
      assert.isBelow(ms, 5000)
    })

    it("a header whose extended timestamp never comes holds only its own bytes", () => {
      const decoder = ChunkDecoder.make()
      const { error, messages } = feed(decoder, new Uint8Array(fmt0(4, 10, 9, 0x1000000).slice(0, 12)), 1)
      assert.isUndefined(error)
      assert.strictEqual(messages.length, 0)
      assert.strictEqual(decoder.bufferedBytes, 12)
    })
  })

  describe("no pathological time", () => {
    it("a 128 KiB message in 1-byte chunks, pushed one byte at a time", () => {
      const payload = new Uint8Array(128 * 1024).map((_, i) => i & 0xff)
      const encoder = ChunkEncoder.make()
      const first = concat(encoder.encode(ProtocolControl.setChunkSize(1)))
      encoder.setChunkSize(1)
      const wire = concat([first, concat(encoder.encode({ typeId: 9, streamId: 1, timestamp: 0x1000000, payload }))])
      const decoder = ChunkDecoder.make()
      const [{ error, messages }, ms] = elapsed(() => feed(decoder, wire, 1))
      assert.isUndefined(error)
      assert.strictEqual(messages.length, 2)
      assert.deepStrictEqual(messages[1]!.payload, payload)
      // 800 000 one-byte pushes (extended timestamps repeated on every chunk): linear, far under the budget (a
      // quadratic decoder would take hours).
      assert.isBelow(ms, 5000)
    })

    it("holds only the bytes of a partial header after a push", () => {
      const decoder = ChunkDecoder.make()
      const big = concat([fmt0(4, 1), [0xaa], new Uint8Array(0), fmt0(5, 1).slice(0, 5)])
      const result = decoder.push(big)
      assert.isTrue(Result.isSuccess(result))
      assert.strictEqual(decoder.bufferedBytes, 5)
    })
  })
})
