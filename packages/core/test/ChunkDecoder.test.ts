import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import * as ChunkDecoder from "../src/ChunkDecoder.ts"
import * as ChunkEncoder from "../src/ChunkEncoder.ts"
import type { DecodedMessage, RtmpMessage } from "../src/Message.ts"
import { MessageType } from "../src/Message.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"

const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const concat = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(pieces))

const pushOk = (decoder: ChunkDecoder.ChunkDecoder, bytes: Uint8Array): ReadonlyArray<DecodedMessage> => {
  const result = decoder.push(bytes)
  if (Result.isFailure(result)) throw new Error(`unexpected ProtocolError: ${result.failure.reason}`)
  return result.success
}

const pushError = (decoder: ChunkDecoder.ChunkDecoder, bytes: Uint8Array): string => {
  const result = decoder.push(bytes)
  if (Result.isSuccess(result)) throw new Error("expected a ProtocolError")
  assert.strictEqual(result.failure._tag, "ProtocolError")
  return result.failure.reason
}

const summary = (m: DecodedMessage) => ({
  typeId: m.typeId,
  streamId: m.streamId,
  timestamp: m.timestamp,
  chunkStreamId: m.chunkStreamId,
  payload: hex(m.payload)
})

const encodeAll = (encoder: ChunkEncoder.ChunkEncoder, messages: ReadonlyArray<RtmpMessage>): Uint8Array =>
  concat(messages.flatMap((m) => encoder.encode(m)))

describe("ChunkDecoder", () => {
  it("decodes fmt 0, 1, 2 and 3 headers", () => {
    const decoder = ChunkDecoder.make()
    const wire = fromHex(
      "03 000000 000003 14 00000000 616263" + // fmt 0, t=0
        "43 00000a 000002 14 0102" + // fmt 1, delta 10
        "83 000014 0304" + // fmt 2, delta 20
        "c3 0506" // fmt 3, delta 20 again
    )
    assert.deepStrictEqual(pushOk(decoder, wire).map(summary), [
      { typeId: 20, streamId: 0, timestamp: 0, chunkStreamId: 3, payload: "616263" },
      { typeId: 20, streamId: 0, timestamp: 10, chunkStreamId: 3, payload: "0102" },
      { typeId: 20, streamId: 0, timestamp: 30, chunkStreamId: 3, payload: "0304" },
      { typeId: 20, streamId: 0, timestamp: 50, chunkStreamId: 3, payload: "0506" }
    ])
  })

  it("reads a fmt 3 new message after fmt 0 with the fmt 0 timestamp as its delta", () => {
    const decoder = ChunkDecoder.make()
    const wire = fromHex("04 000064 000001 08 01000000 aa" + "c4 bb" + "c4 cc")
    assert.deepStrictEqual(pushOk(decoder, wire).map((m) => m.timestamp), [100, 200, 300])
  })

  it("decodes byte by byte, with 2- and 3-byte basic headers", () => {
    const encoder = ChunkEncoder.make({ chunkSize: 2 })
    const messages: Array<RtmpMessage> = [
      { typeId: 20, streamId: 0, timestamp: 0, payload: fromHex("0102030405"), chunkStreamId: 64 },
      { typeId: 9, streamId: 1, timestamp: 7, payload: fromHex("0607"), chunkStreamId: 320 },
      { typeId: 9, streamId: 1, timestamp: 9, payload: fromHex("0809"), chunkStreamId: 65599 },
      { typeId: 9, streamId: 1, timestamp: 11, payload: fromHex("0a0b0c"), chunkStreamId: 320 }
    ]
    const wire = encodeAll(encoder, messages)
    // The decoder starts at chunk size 128, so tell it about the size first.
    const decoder = ChunkDecoder.make()
    const setChunkSize = concat(ChunkEncoder.make().encode(ProtocolControl.setChunkSize(2)))
    const out: Array<DecodedMessage> = []
    for (const byte of concat([setChunkSize, wire])) out.push(...pushOk(decoder, new Uint8Array([byte])))
    assert.deepStrictEqual(out.slice(1).map(summary), [
      { typeId: 20, streamId: 0, timestamp: 0, chunkStreamId: 64, payload: "0102030405" },
      { typeId: 9, streamId: 1, timestamp: 7, chunkStreamId: 320, payload: "0607" },
      { typeId: 9, streamId: 1, timestamp: 9, chunkStreamId: 65599, payload: "0809" },
      { typeId: 9, streamId: 1, timestamp: 11, chunkStreamId: 320, payload: "0a0b0c" }
    ])
  })

  it("applies the server's Set Chunk Size and still emits it", () => {
    const decoder = ChunkDecoder.make()
    const big = new Uint8Array(300).map((_, i) => i & 0xff)
    const server = ChunkEncoder.make()
    const wire = concat([
      ...server.encode(ProtocolControl.setChunkSize(4096)),
      ...(server.setChunkSize(4096), server.encode({ typeId: 20, streamId: 0, timestamp: 0, payload: big }))
    ])
    // The 300-byte message is one chunk: its header is followed by 300 bytes with no fmt 3 header inside.
    assert.strictEqual(wire.length, 12 + 4 + 12 + 300)
    const out = pushOk(decoder, wire)
    assert.strictEqual(out.length, 2)
    assert.strictEqual(out[0]!.typeId, MessageType.SetChunkSize)
    assert.strictEqual(hex(out[0]!.payload), "00001000")
    assert.deepStrictEqual(out[1]!.payload, big)
    assert.strictEqual(decoder.chunkSize, 4096)
  })

  it("discards a partial message on Abort", () => {
    const decoder = ChunkDecoder.make()
    const chunk = new Uint8Array(128).fill(0xee)
    const server = ChunkEncoder.make()
    // A 200-byte audio message: only its first chunk is sent, then Abort for chunk stream 4.
    const first = server.encode({ typeId: 8, streamId: 1, timestamp: 0, payload: new Uint8Array(200) }).slice(0, 2)
    assert.strictEqual(first[1]!.length, 128)
    const abort = server.encode(ProtocolControl.abort(4))
    // A new message on chunk stream 4 (fmt 1: new length).
    const next = fromHex("44 000005 000002 08 0102")
    const out = pushOk(decoder, concat([...first, chunk.subarray(0, 0), ...abort, next]))
    assert.deepStrictEqual(out.map(summary), [
      { typeId: 2, streamId: 0, timestamp: 0, chunkStreamId: 2, payload: "00000004" },
      { typeId: 8, streamId: 1, timestamp: 5, chunkStreamId: 4, payload: "0102" }
    ])
  })

  it("reassembles interleaved chunk streams", () => {
    const decoder = ChunkDecoder.make()
    const a = new Uint8Array(200).fill(0xaa)
    const b = new Uint8Array(150).fill(0xbb)
    const encoder = ChunkEncoder.make()
    const audio = encoder.encode({ typeId: 8, streamId: 1, timestamp: 1, payload: a })
    const video = encoder.encode({ typeId: 9, streamId: 1, timestamp: 2, payload: b })
    // audio chunk 1, video chunk 1, audio chunk 2, video chunk 2
    const wire = concat([audio[0]!, audio[1]!, video[0]!, video[1]!, audio[2]!, audio[3]!, video[2]!, video[3]!])
    const out = pushOk(decoder, wire)
    assert.deepStrictEqual(out.map((m) => [m.chunkStreamId, m.timestamp, m.payload.length]), [[4, 1, 200], [6, 2, 150]])
    assert.deepStrictEqual(out[0]!.payload, a)
    assert.deepStrictEqual(out[1]!.payload, b)
  })

  it("reads extended timestamps on continuation chunks, repeated or not", () => {
    // Repeated (FFmpeg, Adobe): fmt 3 chunk carries 01000000 again.
    const repeated = fromHex("04 ffffff 000006 08 01000000 01000000 01020304 c4 01000000 0506")
    assert.deepStrictEqual(pushOk(ChunkDecoder.make(), concat([fromHex("02000000000004010000000000000004"), repeated])).slice(1).map(summary), [
      { typeId: 8, streamId: 1, timestamp: 0x1000000, chunkStreamId: 4, payload: "010203040506" }
    ])
    // Not repeated: the 4 bytes after the fmt 3 header are payload.
    const bare = fromHex("04 ffffff 000006 08 01000000 01000000 01020304 c4 0506")
    const decoder = ChunkDecoder.make()
    pushOk(decoder, fromHex("02000000000004010000000000000004"))
    // The decoder needs 4 bytes after the fmt 3 header to tell; the next message supplies them.
    assert.deepStrictEqual(pushOk(decoder, bare), [])
    const out = pushOk(decoder, fromHex("06 000000 000001 09 01000000 ff"))
    assert.deepStrictEqual(out.map(summary), [
      { typeId: 8, streamId: 1, timestamp: 0x1000000, chunkStreamId: 4, payload: "010203040506" },
      { typeId: 9, streamId: 1, timestamp: 0, chunkStreamId: 6, payload: "ff" }
    ])
  })

  it("adds deltas modulo 2^32", () => {
    const decoder = ChunkDecoder.make()
    const wire = fromHex("04 ffffff 000001 08 01000000 fffffff0 aa" + "84 000020 bb")
    assert.deepStrictEqual(pushOk(decoder, wire).map((m) => m.timestamp), [0xfffffff0, 0x10])
  })

  it("decodes a zero-length message", () => {
    const out = pushOk(ChunkDecoder.make(), fromHex("05 000005 000000 12 01000000"))
    assert.deepStrictEqual(out.map(summary), [
      { typeId: 18, streamId: 1, timestamp: 5, chunkStreamId: 5, payload: "" }
    ])
  })

  it("hands out a whole single-chunk message without copying it", () => {
    const wire = fromHex("03 000000 000003 14 00000000 616263")
    const [message] = pushOk(ChunkDecoder.make(), wire)
    assert.strictEqual(message!.payload.buffer, wire.buffer)
  })

  describe("limits and malformed input give ProtocolError", () => {
    it("message over maxMessageSize", () => {
      const decoder = ChunkDecoder.make({ maxMessageSize: 1000 })
      assert.match(pushError(decoder, fromHex("03 000000 0003e9 14 00000000")), /1001 bytes.*limit of 1000/)
    })

    it("Set Chunk Size over maxChunkSize, zero or truncated", () => {
      assert.match(
        pushError(ChunkDecoder.make({ maxChunkSize: 65536 }), fromHex("02 000000 000004 01 00000000 00010001")),
        /Set Chunk Size 65537/
      )
      assert.match(pushError(ChunkDecoder.make(), fromHex("02 000000 000004 01 00000000 00000000")), /Set Chunk Size 0/)
      assert.match(pushError(ChunkDecoder.make(), fromHex("02 000000 000004 01 00000000 80000000")), /Set Chunk Size/)
      assert.match(pushError(ChunkDecoder.make(), fromHex("02 000000 000002 01 00000000 0001")), /2 bytes/)
    })

    it("too many chunk streams", () => {
      const decoder = ChunkDecoder.make({ maxChunkStreams: 3 })
      const msg = (csid: number) => fromHex(`${csid.toString(16).padStart(2, "0")} 000000 000001 14 00000000 00`)
      pushOk(decoder, concat([msg(3), msg(4), msg(5), msg(3)]))
      assert.match(pushError(decoder, msg(6)), /more than 3 chunk streams/)
    })

    it("too many buffered bytes", () => {
      const decoder = ChunkDecoder.make({ maxBufferedBytes: 100_000 })
      // Chunk size 100: each partial below is one whole chunk of a 65535-byte message.
      pushOk(decoder, fromHex("02 000000 000004 01 00000000 00000064"))
      const partial = (csid: number) =>
        concat([fromHex(`${csid.toString(16).padStart(2, "0")} 000000 00ffff 09 01000000`), new Uint8Array(100)])
      pushOk(decoder, partial(4))
      assert.match(pushError(decoder, partial(5)), /more than 100000 bytes/)
    })

    it("fmt 1/2/3 on a chunk stream never opened with fmt 0", () => {
      assert.match(pushError(ChunkDecoder.make(), fromHex("44 000000 000001 08 00")), /starts with a fmt 1/)
      assert.match(pushError(ChunkDecoder.make(), fromHex("c4")), /starts with a fmt 3/)
    })

    it("a new message header while a message is incomplete", () => {
      const decoder = ChunkDecoder.make()
      pushOk(decoder, concat([fromHex("04 000000 0000c8 08 01000000"), new Uint8Array(128)]))
      assert.match(pushError(decoder, fromHex("44 000000 000001 08 00")), /while its message is incomplete/)
    })

    it("stays failed after an error", () => {
      const decoder = ChunkDecoder.make()
      const first = pushError(decoder, fromHex("c4"))
      assert.strictEqual(pushError(decoder, fromHex("03 000000 000001 14 00000000 00")), first)
    })
  })

  describe("decode (Stream)", () => {
    it.effect("decodes a stream of byte pieces", () =>
      Effect.gen(function*() {
        const wire = fromHex("03 000000 000003 14 00000000 616263 43 00000a 000002 14 0102")
        const pieces = [wire.subarray(0, 5), wire.subarray(5, 5), wire.subarray(5, 16), wire.subarray(16)]
        const messages = yield* Stream.runCollect(ChunkDecoder.decode(Stream.fromIterable(pieces)))
        assert.deepStrictEqual(messages.map(summary), [
          { typeId: 20, streamId: 0, timestamp: 0, chunkStreamId: 3, payload: "616263" },
          { typeId: 20, streamId: 0, timestamp: 10, chunkStreamId: 3, payload: "0102" }
        ])
      }))

    it.effect("fails the stream with ProtocolError", () =>
      Effect.gen(function*() {
        const good = fromHex("03 000000 000001 14 00000000 00")
        const collected: Array<DecodedMessage> = []
        const error = yield* ChunkDecoder.decode(Stream.fromIterable([good, fromHex("c5")])).pipe(
          Stream.runForEach((m) => Effect.sync(() => collected.push(m))),
          Effect.flip
        )
        assert.strictEqual(error._tag, "ProtocolError")
        assert.strictEqual(collected.length, 1)
      }))

    it.effect("passes upstream errors through", () =>
      Effect.gen(function*() {
        const error = yield* ChunkDecoder.decode(Stream.fail("boom" as const)).pipe(Stream.runCollect, Effect.flip)
        assert.strictEqual(error, "boom")
      }))
  })
})
