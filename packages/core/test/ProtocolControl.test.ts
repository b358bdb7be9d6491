import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import type { RtmpMessage } from "../src/Message.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"

const hex = (message: RtmpMessage): string => Buffer.from(message.payload as Uint8Array).toString("hex")
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"))

const parse = (text: string) => {
  const result = ProtocolControl.parseUserControl(fromHex(text))
  if (Result.isFailure(result)) throw new Error(result.failure.reason)
  return result.success
}

describe("ProtocolControl", () => {
  it("builds protocol control messages on chunk stream 2, message stream 0", () => {
    const messages = [
      [ProtocolControl.setChunkSize(4096), 1, "00001000"],
      [ProtocolControl.abort(4), 2, "00000004"],
      [ProtocolControl.acknowledgement(2 ** 32 + 5), 3, "00000005"],
      [ProtocolControl.windowAckSize(2_500_000), 5, "002625a0"],
      [ProtocolControl.setPeerBandwidth(2_500_000, ProtocolControl.BandwidthLimitType.Dynamic), 6, "002625a002"],
      [ProtocolControl.pingResponse(0xdeadbeef), 4, "0007deadbeef"],
      [ProtocolControl.pingRequest(1), 4, "000600000001"],
      [ProtocolControl.setBufferLength(1, 3000), 4, "00030000000100000bb8"],
      [ProtocolControl.streamBegin(1), 4, "000000000001"]
    ] as const
    for (const [message, typeId, payload] of messages) {
      assert.strictEqual(message.typeId, typeId)
      assert.strictEqual(message.streamId, 0)
      assert.strictEqual(message.timestamp, 0)
      assert.strictEqual(message.chunkStreamId, 2)
      assert.strictEqual(hex(message), payload)
    }
    assert.throws(() => ProtocolControl.setChunkSize(0), RangeError)
  })

  it("parses User Control events", () => {
    assert.deepStrictEqual(parse("0000 00000001"), { _tag: "StreamBegin", streamId: 1 })
    assert.deepStrictEqual(parse("0001 00000001"), { _tag: "StreamEof", streamId: 1 })
    assert.deepStrictEqual(parse("0002 00000001"), { _tag: "StreamDry", streamId: 1 })
    assert.deepStrictEqual(parse("0003 00000001 00000bb8"), { _tag: "SetBufferLength", streamId: 1, bufferLength: 3000 })
    assert.deepStrictEqual(parse("0004 00000001"), { _tag: "StreamIsRecorded", streamId: 1 })
    assert.deepStrictEqual(parse("0006 deadbeef"), { _tag: "PingRequest", timestamp: 0xdeadbeef })
    assert.deepStrictEqual(parse("0007 00000010"), { _tag: "PingResponse", timestamp: 16 })
    assert.deepStrictEqual(parse("001f 00000001"), { _tag: "BufferEmpty", streamId: 1 })
    assert.deepStrictEqual(parse("0020 00000001"), { _tag: "BufferReady", streamId: 1 })
    const unknown = parse("001a 01")
    assert.strictEqual(unknown._tag, "Unknown")
    if (unknown._tag === "Unknown") {
      assert.strictEqual(unknown.eventType, 0x1a)
      assert.deepStrictEqual([...unknown.data], [1])
    }
  })

  it("answers a Ping Request with the same timestamp", () => {
    const request = parse(hex(ProtocolControl.pingRequest(123456)))
    assert.strictEqual(request._tag, "PingRequest")
    if (request._tag === "PingRequest") assert.strictEqual(hex(ProtocolControl.pingResponse(request.timestamp)), "00070001e240")
  })

  it("fails with ProtocolError on truncated bodies", () => {
    for (const text of ["", "00", "0000 000000", "0003 00000001", "0006 00"]) {
      const result = ProtocolControl.parseUserControl(fromHex(text))
      assert.isTrue(Result.isFailure(result), text)
      if (Result.isFailure(result)) assert.strictEqual(result.failure._tag, "ProtocolError")
    }
    assert.isTrue(Result.isFailure(ProtocolControl.readUint32(fromHex("000010"))))
  })

  it("reads 32-bit bodies and Set Peer Bandwidth", () => {
    assert.deepStrictEqual(ProtocolControl.readUint32(fromHex("ffffffff")), Result.succeed(0xffffffff))
    const subarray = fromHex("aa 00001000").subarray(1)
    assert.deepStrictEqual(ProtocolControl.readUint32(subarray), Result.succeed(4096))
    assert.deepStrictEqual(
      ProtocolControl.parseSetPeerBandwidth(fromHex("002625a0 01")),
      Result.succeed({ size: 2_500_000, limitType: 1 })
    )
  })
})
