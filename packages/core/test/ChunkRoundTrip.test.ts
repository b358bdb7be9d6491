import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import * as ChunkDecoder from "../src/ChunkDecoder.ts"
import * as ChunkEncoder from "../src/ChunkEncoder.ts"
import type { DecodedMessage, RtmpMessage } from "../src/Message.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

const ChunkSize = Schema.Union([Schema.Literals([1, 2, 3, 4, 127, 128, 129, 4096, 65536]), between(1, 65536)])

/** Absolute timestamps near the places where the encoding changes: 0xFFFFFF and 2^32. */
const Landmark = Schema.Literals([
  0,
  1,
  0xfffffe,
  0xffffff,
  0x1000000,
  0x1000010,
  2 ** 31,
  2 ** 32 - 20,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 32 + 0xfffff0,
  2 ** 33 + 5
])

const MessageSpec = Schema.Struct({
  // 1 and 2 (Set Chunk Size, Abort) act on the decoder: they are sent on purpose, not at random.
  typeId: Schema.Union([Schema.Literals([3, 4, 5, 6, 8, 9, 18, 20, 22]), between(7, 255)]),
  streamId: Schema.Union([Schema.Literals([0, 1, 2, 0xffffffff]), between(0, 2 ** 32 - 1)]),
  chunkStreamId: Schema.Union([
    Schema.Undefined,
    Schema.Literals([2, 3, 4, 63, 64, 65, 319, 320, 321, 65599])
  ]),
  // The timestamp: a jump to a landmark, or the previous one plus a delta (sometimes an extended one).
  jump: Schema.Boolean,
  landmark: Landmark,
  delta: Schema.Union([between(0, 40), Schema.Literals([0xfffffe, 0xffffff, 0x1000000])]),
  // The payload length: a few whole chunks and a rest, and how it is split into pieces.
  wholeChunks: between(0, 3),
  rest: between(0, 300),
  pieces: between(1, 3),
  fill: between(0, 255),
  // Change the chunk size before this message (sent in-stream as Set Chunk Size).
  newChunkSize: Schema.Union([Schema.Undefined, ChunkSize]),
  // Repeat the previous message's type, stream, chunk stream, length and delta (only the bytes differ):
  // runs of these are what fmt 2 and fmt 3 headers are for.
  repeat: Schema.Boolean
})

const Scenario = Schema.Struct({
  chunkSize: ChunkSize,
  messages: Schema.Array(MessageSpec).check(Schema.isBetweenLength(1, 12)),
  fragments: Schema.Array(between(1, 9000)).check(Schema.isBetweenLength(1, 5)),
  tinyFragments: Schema.Boolean
})

type Scenario = typeof Scenario.Type

const MAX_PAYLOAD = 140_000

interface Built {
  readonly wire: Uint8Array
  readonly expected: ReadonlyArray<{ readonly message: RtmpMessage; readonly bytes: Uint8Array }>
}

const build = (scenario: Scenario): Built => {
  const encoder = ChunkEncoder.make()
  const pieces: Array<Uint8Array> = []
  const expected: Array<{ message: RtmpMessage; bytes: Uint8Array }> = []
  const send = (message: RtmpMessage, bytes: Uint8Array) => {
    for (const piece of encoder.encode(message)) pieces.push(piece)
    expected.push({ message, bytes })
  }
  const changeChunkSize = (size: number) => {
    const message = ProtocolControl.setChunkSize(size)
    send(message, message.payload as Uint8Array)
    encoder.setChunkSize(size)
  }
  changeChunkSize(scenario.chunkSize)
  const last = new Map<number, number>()
  let previousSpec: typeof MessageSpec.Type | undefined
  let previousLength = 0
  for (const given of scenario.messages) {
    const repeat = given.repeat && previousSpec !== undefined
    const spec = repeat ? { ...previousSpec!, fill: given.fill, pieces: given.pieces, jump: false } : given
    previousSpec = spec
    if (given.newChunkSize !== undefined) changeChunkSize(given.newChunkSize)
    const csid = spec.chunkStreamId ?? ChunkEncoder.chunkStreamIdFor(spec.typeId)
    const previous = last.get(csid)
    const timestamp = spec.jump || previous === undefined ? spec.landmark + spec.delta : previous + spec.delta
    last.set(csid, timestamp)
    const length = repeat ? previousLength : Math.min(spec.wholeChunks * encoder.chunkSize + spec.rest, MAX_PAYLOAD)
    previousLength = length
    const bytes = new Uint8Array(length)
    for (let i = 0; i < length; i++) bytes[i] = (spec.fill + i * 7) & 0xff
    // Split the payload into pieces at deterministic points (empty pieces included).
    const cuts = Array.from({ length: spec.pieces - 1 }, (_, i) => Math.floor((length * (i + 1)) / (spec.pieces + 1)))
    const payload = spec.pieces === 1
      ? bytes
      : [...cuts, length].map((end, i) => bytes.subarray(i === 0 ? 0 : cuts[i - 1]!, end))
    send(
      spec.chunkStreamId === undefined
        ? { typeId: spec.typeId, streamId: spec.streamId, timestamp, payload }
        : { typeId: spec.typeId, streamId: spec.streamId, timestamp, payload, chunkStreamId: spec.chunkStreamId },
      bytes
    )
  }
  let total = 0
  for (const p of pieces) total += p.length
  const wire = new Uint8Array(total)
  let offset = 0
  for (const p of pieces) {
    wire.set(p, offset)
    offset += p.length
  }
  return { wire, expected }
}

const decodeInFragments = (wire: Uint8Array, sizes: ReadonlyArray<number>): ReadonlyArray<DecodedMessage> => {
  const decoder = ChunkDecoder.make()
  const out: Array<DecodedMessage> = []
  let offset = 0
  let i = 0
  while (offset < wire.length) {
    const size = sizes[i++ % sizes.length]!
    // Copy each fragment, as a socket would hand out fresh buffers.
    const result = decoder.push(wire.slice(offset, offset + size))
    if (Result.isFailure(result)) throw new Error(`ProtocolError: ${result.failure.reason}`)
    for (const m of result.success) out.push(m)
    offset += size
  }
  return out
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)

const check = (scenario: Scenario): void => {
  const { expected, wire } = build(scenario)
  const sizes = scenario.tinyFragments ? scenario.fragments.map((n) => 1 + (n % 7)) : scenario.fragments
  const decoded = decodeInFragments(wire, sizes)
  assert.strictEqual(decoded.length, expected.length, "number of messages")
  expected.forEach(({ bytes, message }, i) => {
    const got = decoded[i]!
    const where = `message ${i}`
    assert.strictEqual(got.typeId, message.typeId, `${where} typeId`)
    assert.strictEqual(got.streamId, message.streamId, `${where} streamId`)
    assert.strictEqual(got.timestamp, message.timestamp % 2 ** 32, `${where} timestamp`)
    assert.strictEqual(
      got.chunkStreamId,
      message.chunkStreamId ?? ChunkEncoder.chunkStreamIdFor(message.typeId),
      `${where} chunkStreamId`
    )
    assert.isTrue(equalBytes(got.payload, bytes), `${where} payload`)
  })
}

describe("chunk encoder -> decoder round trip", () => {
  it.prop(
    "decoded messages equal the encoded ones, whatever the chunk sizes, timestamps and fragmentation",
    [Arbitrary.schema(Scenario)],
    ([scenario]) => check(scenario),
    { timeout: 120_000, arbitrary: { runs: 400, seed: 20240611, size: 30 } }
  )

  it("round trips a long stream fed one byte at a time", () => {
    const messages = Array.from({ length: 40 }, (_, i) => ({
      typeId: i % 3 === 0 ? 8 : 9,
      streamId: 1,
      chunkStreamId: undefined,
      jump: i === 20,
      landmark: 2 ** 32 - 30,
      delta: i % 7 === 0 ? 0x1000000 : 23,
      wholeChunks: i % 3 === 0 ? 0 : 2,
      rest: i % 3 === 0 ? 20 : 50,
      pieces: 1 + (i % 3),
      fill: i,
      newChunkSize: i === 10 ? 7 : undefined,
      repeat: false
    }))
    check({ chunkSize: 33, messages, fragments: [1], tinyFragments: false })
  })
})
