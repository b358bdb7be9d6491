import { assert, describe, it } from "@effect/vitest"
import * as ChunkEncoder from "../src/ChunkEncoder.ts"
import type { RtmpMessage } from "../src/Message.ts"
import { MessageType } from "../src/Message.ts"

const hex = (pieces: ReadonlyArray<Uint8Array>): string =>
  pieces.map((p) => Buffer.from(p).toString("hex")).join(" ")
const bytes = (...values: Array<number>) => new Uint8Array(values)

const command = (timestamp: number, payload: Uint8Array, streamId = 0): RtmpMessage => ({
  typeId: MessageType.CommandAmf0,
  streamId,
  timestamp,
  payload
})

describe("ChunkEncoder", () => {
  it("picks fmt 0, 1, 2, 3 by what changed since the last message on the chunk stream", () => {
    const encoder = ChunkEncoder.make()
    // fmt 0: first message on chunk stream 3 (commands).
    assert.strictEqual(hex(encoder.encode(command(0, bytes(0x61, 0x62, 0x63)))), "03" + "000000" + "000003" + "14" + "00000000 616263")
    // fmt 1: length changed; delta 10.
    assert.strictEqual(hex(encoder.encode(command(10, bytes(1, 2)))), "4300000a00000214 0102")
    // fmt 2: same length and type, delta 20 differs from 10.
    assert.strictEqual(hex(encoder.encode(command(30, bytes(3, 4)))), "83000014 0304")
    // fmt 3: same length, type and delta.
    assert.strictEqual(hex(encoder.encode(command(50, bytes(5, 6)))), "c3 0506")
    // fmt 0: the message stream id changed.
    assert.strictEqual(hex(encoder.encode(command(70, bytes(5, 6), 1))), "03" + "000046" + "000002" + "14" + "01000000 0506")
    // fmt 0: the timestamp went backwards.
    assert.strictEqual(hex(encoder.encode(command(60, bytes(5, 6), 1))), "03" + "00003c" + "000002" + "14" + "01000000 0506")
  })

  it("never sends a fmt 3 new message right after fmt 0", () => {
    const encoder = ChunkEncoder.make()
    assert.strictEqual(hex(encoder.encode(command(10, bytes(1)))), "0300000a00000114" + "00000000 01")
    // delta 10 equals the fmt 0 timestamp, yet fmt 2 is sent.
    assert.strictEqual(hex(encoder.encode(command(20, bytes(2)))), "8300000a 02")
    assert.strictEqual(hex(encoder.encode(command(30, bytes(3)))), "c3 03")
  })

  it("splits a message into chunks with fmt 3 continuation headers", () => {
    const encoder = ChunkEncoder.make({ chunkSize: 4 })
    const payload = bytes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
    const out = encoder.encode({ typeId: MessageType.Audio, streamId: 1, timestamp: 0, payload })
    assert.strictEqual(
      hex(out),
      "040000000000" + "0a" + "08" + "01000000 00010203 c4 04050607 c4 0809"
    )
    // Payload slices share the payload's memory: nothing copied.
    assert.isTrue(out.filter((_, i) => i % 2 === 1).every((slice) => slice.buffer === payload.buffer))
  })

  it("repeats the extended timestamp on continuation chunks", () => {
    const encoder = ChunkEncoder.make({ chunkSize: 4 })
    const out = encoder.encode({
      typeId: MessageType.Audio,
      streamId: 1,
      timestamp: 0x1000000,
      payload: bytes(1, 2, 3, 4, 5, 6)
    })
    assert.strictEqual(hex(out), "04ffffff00000608" + "01000000" + "01000000 01020304 c401000000 0506")
  })

  it("writes 0xFFFFFF itself as an extended timestamp", () => {
    const encoder = ChunkEncoder.make()
    const out = encoder.encode({ typeId: MessageType.Video, streamId: 1, timestamp: 0xffffff, payload: bytes(9) })
    assert.strictEqual(hex(out), "06ffffff00000109" + "01000000" + "00ffffff 09")
    const fine = ChunkEncoder.make().encode({ typeId: 9, streamId: 1, timestamp: 0xfffffe, payload: bytes(9) })
    assert.strictEqual(hex(fine), "06fffffe00000109" + "01000000 09")
  })

  it("uses extended deltas on fmt 1/2 and on fmt 3 new messages", () => {
    const encoder = ChunkEncoder.make()
    const video = (timestamp: number, payload: Uint8Array): RtmpMessage => ({
      typeId: MessageType.Video,
      streamId: 1,
      timestamp,
      payload
    })
    encoder.encode(video(0, bytes(1)))
    // fmt 1, extended delta 0x1000000.
    assert.strictEqual(hex(encoder.encode(video(0x1000000, bytes(1, 2)))), "46ffffff00000209" + "01000000 0102")
    // fmt 3 new message reusing the extended delta: the extended timestamp is repeated.
    assert.strictEqual(hex(encoder.encode(video(0x2000000, bytes(3, 4)))), "c601000000 0304")
    // fmt 2 with a small delta.
    assert.strictEqual(hex(encoder.encode(video(0x2000021, bytes(5, 6)))), "86000021 0506")
  })

  it("writes timestamps modulo 2^32 and deltas across the wrap", () => {
    const encoder = ChunkEncoder.make()
    const audio = (timestamp: number): RtmpMessage => ({ typeId: 8, streamId: 1, timestamp, payload: bytes(7) })
    assert.strictEqual(hex(encoder.encode(audio(2 ** 32 - 1))), "04ffffff00000108" + "01000000" + "ffffffff 07")
    assert.strictEqual(hex(encoder.encode(audio(2 ** 32 + 4))), "84000005 07")
    assert.strictEqual(hex(ChunkEncoder.make().encode(audio(2 ** 32 + 4))), "0400000400000108" + "01000000 07")
  })

  it("writes 2- and 3-byte basic headers", () => {
    const encoder = ChunkEncoder.make()
    const on = (chunkStreamId: number, timestamp = 0): string =>
      hex(encoder.encode({ typeId: 20, streamId: 0, timestamp, payload: bytes(1), chunkStreamId }))
    assert.strictEqual(on(63), "3f00000000000114" + "00000000 01")
    assert.strictEqual(on(64), "0000" + "00000000000114" + "00000000 01")
    assert.strictEqual(on(319), "00ff" + "00000000000114" + "00000000 01")
    assert.strictEqual(on(320), "010001" + "00000000000114" + "00000000 01")
    assert.strictEqual(on(65599), "01ffff" + "00000000000114" + "00000000 01")
    // and in the fmt 3 continuation headers
    const small = ChunkEncoder.make({ chunkSize: 1 })
    const out = small.encode({ typeId: 20, streamId: 0, timestamp: 0, payload: bytes(1, 2), chunkStreamId: 320 })
    assert.strictEqual(hex(out), "010001" + "00000000000214" + "00000000 01 c10001 02")
    const out2 = small.encode({ typeId: 20, streamId: 0, timestamp: 0, payload: bytes(1, 2), chunkStreamId: 100 })
    assert.strictEqual(hex(out2), "0024" + "00000000000214" + "00000000 01 c024 02")
  })

  it("slices payloads given as several pieces across chunk boundaries", () => {
    const encoder = ChunkEncoder.make({ chunkSize: 3 })
    const a = bytes(1, 2)
    const b = bytes()
    const c = bytes(3, 4, 5, 6)
    const out = encoder.encode({ typeId: 9, streamId: 1, timestamp: 0, payload: [a, b, c] })
    assert.strictEqual(hex(out), "0600000000000609" + "01000000 0102 03 c6 040506")
    assert.strictEqual(out[1], a)
    assert.strictEqual(out[2]!.buffer, c.buffer)
  })

  it("sends an empty message as a header alone", () => {
    const encoder = ChunkEncoder.make()
    assert.strictEqual(hex(encoder.encode({ typeId: 18, streamId: 1, timestamp: 5, payload: bytes() })), "0500000500000012" + "01000000")
  })

  it("maps message types to chunk streams", () => {
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.SetChunkSize), 2)
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.UserControl), 2)
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.SetPeerBandwidth), 2)
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.CommandAmf0), 3)
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.Audio), 4)
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.DataAmf0), 5)
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.Video), 6)
    assert.strictEqual(ChunkEncoder.chunkStreamIdFor(MessageType.Aggregate), 7)
  })

  it("applies a new chunk size to the messages after the call", () => {
    const encoder = ChunkEncoder.make()
    assert.strictEqual(encoder.chunkSize, 128)
    const payload = new Uint8Array(300)
    assert.strictEqual(encoder.encode({ typeId: 9, streamId: 1, timestamp: 0, payload }).length, 6)
    encoder.setChunkSize(4096)
    assert.strictEqual(encoder.chunkSize, 4096)
    assert.strictEqual(encoder.encode({ typeId: 9, streamId: 1, timestamp: 0, payload }).length, 2)
    assert.throws(() => encoder.setChunkSize(0), RangeError)
    assert.throws(() => encoder.setChunkSize(2 ** 31), RangeError)
  })

  it("rejects messages the wire cannot carry", () => {
    const encoder = ChunkEncoder.make()
    const base = { typeId: 9, streamId: 1, timestamp: 0, payload: bytes(1) }
    assert.throws(() => encoder.encode({ ...base, chunkStreamId: 1 }), RangeError)
    assert.throws(() => encoder.encode({ ...base, chunkStreamId: 65600 }), RangeError)
    assert.throws(() => encoder.encode({ ...base, typeId: 256 }), RangeError)
    assert.throws(() => encoder.encode({ ...base, streamId: -1 }), RangeError)
    assert.throws(() => encoder.encode({ ...base, timestamp: -1 }), RangeError)
    assert.throws(() => encoder.encode({ ...base, timestamp: 1.5 }), RangeError)
    assert.throws(() => encoder.encode({ ...base, payload: new Uint8Array(0x1000000) }), RangeError)
  })
})
