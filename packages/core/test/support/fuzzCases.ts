/**
 * Hostile-input cases for the decoders of what a server sends (issue 3: hostile or broken servers), shared by
 * the CI property tests (`ChunkDecoderFuzz.test.ts`, `Amf0Fuzz.test.ts`, fixed seeds) and the long run
 * outside CI (`scripts/fuzz.mjs`, fresh seeds, bigger sizes), so that a seed found by one reproduces in the
 * other.
 *
 * Each scenario is a Schema (its Arbitrary generates and shrinks it); `run*` turns one into bytes (random, or a
 * valid encoding then mutated: bytes flipped, inserted, deleted, duplicated, the input truncated, hostile chunk
 * headers or AMF0 markers spliced in) and checks the decoder's contract on them: it never throws, it returns
 * values or a typed `ProtocolError`, it stays within its limits, and for the chunk decoder the outcome does not
 * depend on how the bytes were split into reads. A broken contract throws {@link FuzzFailure}.
 *
 * The modules under test are passed in ({@link Modules}): the tests give the sources, the fuzz script the
 * built package. This file only imports types from `src`, so Node can run it with its type stripping.
 */
import { Arbitrary, Result, Schema } from "effect"
import type * as Amf0Module from "../../src/Amf0.ts"
import type * as ChunkDecoderModule from "../../src/ChunkDecoder.ts"
import type * as ChunkEncoderModule from "../../src/ChunkEncoder.ts"
import type * as CommandsModule from "../../src/Commands.ts"
import type { DecodedMessage, RtmpMessage } from "../../src/Message.ts"
import type * as ProtocolControlModule from "../../src/ProtocolControl.ts"
import type { ProtocolError } from "../../src/RtmpError.ts"

/** The modules under test. */
export interface Modules {
  readonly Amf0: typeof Amf0Module
  readonly ChunkDecoder: typeof ChunkDecoderModule
  readonly ChunkEncoder: typeof ChunkEncoderModule
  readonly Commands: typeof CommandsModule
  readonly ProtocolControl: typeof ProtocolControlModule
  readonly ProtocolError: typeof ProtocolError
}

/** A broken contract: the decoder threw, returned something untyped, or went past a limit. */
export class FuzzFailure extends Error {
  override readonly name = "FuzzFailure"
}

const fail = (message: string): never => {
  throw new FuzzFailure(message)
}

/** What one case fed and what came out, for the fuzz script's figures. */
export interface Outcome {
  /** Bytes pushed into decoders, all feeds counted. */
  readonly bytes: number
  /** Messages or AMF0 values decoded (first feed). */
  readonly decoded: number
  /** The `ProtocolError` reasons met (deduplicated per case). */
  readonly errors: ReadonlyArray<string>
}

// ---------------------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------------------

const between = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))
const Byte = between(0, 255)
const Uint32 = between(0, 2 ** 32 - 1)

/** A position in the input, in millionths of its length (so that shrinking keeps it meaningful). */
const Position = between(0, 1_000_000)

const at = (position: number, length: number): number => Math.min(length, Math.floor((position / 1_000_000) * length))

/** Byte-level mutations of a valid encoding. */
const ByteMutation = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("flip"), at: Position, mask: between(1, 255) }),
  Schema.Struct({ kind: Schema.Literal("set"), at: Position, value: Schema.Literals([0x00, 0x7f, 0x80, 0xff]) }),
  Schema.Struct({ kind: Schema.Literal("insert"), at: Position, bytes: Schema.Array(Byte).check(Schema.isMaxLength(24)) }),
  Schema.Struct({ kind: Schema.Literal("delete"), at: Position, count: between(1, 200) }),
  Schema.Struct({ kind: Schema.Literal("duplicate"), at: Position, count: between(1, 300), times: between(1, 4) }),
  Schema.Struct({ kind: Schema.Literal("truncate"), at: Position })
])
type ByteMutation = typeof ByteMutation.Type

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

const splice = (bytes: Uint8Array, start: number, remove: number, insert: Uint8Array | ReadonlyArray<number>) =>
  concat([bytes.subarray(0, start), insert, bytes.subarray(Math.min(bytes.length, start + remove))])

const mutateBytes = (bytes: Uint8Array, m: ByteMutation): Uint8Array => {
  const p = at(m.at, bytes.length)
  switch (m.kind) {
    case "flip":
    case "set": {
      if (bytes.length === 0) return bytes
      const out = bytes.slice()
      const i = Math.min(p, bytes.length - 1)
      out[i] = m.kind === "flip" ? out[i]! ^ m.mask : m.value
      return out
    }
    case "insert":
      return splice(bytes, p, 0, m.bytes)
    case "delete":
      return splice(bytes, p, m.count, [])
    case "duplicate": {
      const range = bytes.subarray(p, p + m.count)
      return splice(bytes, p, 0, concat(Array.from({ length: m.times }, () => range)))
    }
    case "truncate":
      return bytes.subarray(0, p)
  }
}

/** A small seeded PRNG (mulberry32) for bulk random bytes. */
export const prng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const randomBytes = (seed: number, length: number): Uint8Array => {
  const next = prng(seed)
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = Math.floor(next() * 256)
  return out
}

const isProtocolError = (m: Modules, e: unknown): e is ProtocolError =>
  e instanceof m.ProtocolError && e._tag === "ProtocolError" && typeof e.reason === "string" && e.reason.length > 0

const describeThrown = (e: unknown): string => (e instanceof Error ? e.stack ?? String(e) : String(e))

/** Calls `f`, turning anything it throws into a {@link FuzzFailure}. */
const total = <A>(what: string, f: () => A): A => {
  try {
    return f()
  } catch (e) {
    return fail(`${what} threw instead of returning a ProtocolError: ${describeThrown(e)}`)
  }
}

/** Checks a Result: a success passes `check`, a failure must be a ProtocolError. Returns the reason or undefined. */
const checkResult = <A>(
  m: Modules,
  what: string,
  result: Result.Result<A, ProtocolError>,
  check: (a: A) => void
): string | undefined => {
  if (!Result.isResult(result)) return fail(`${what} returned something that is not a Result: ${String(result)}`)
  if (Result.isFailure(result)) {
    if (!isProtocolError(m, result.failure)) {
      return fail(`${what} failed with something that is not a ProtocolError: ${String(result.failure)}`)
    }
    return result.failure.reason
  }
  check(result.success)
  return undefined
}

// ---------------------------------------------------------------------------------------------------------
// Chunk decoder
// ---------------------------------------------------------------------------------------------------------

/** Limits small enough for random inputs to reach them; `undefined` means the defaults. */
const Limits = Schema.Union([
  Schema.Undefined,
  Schema.Struct({
    maxChunkSize: Schema.Union([Schema.Literals([1, 128, 65536]), between(1, 70_000)]),
    maxMessageSize: Schema.Union([Schema.Literals([0, 1, 128, 0xffffff]), between(0, 5000)]),
    maxChunkStreams: between(1, 12),
    maxBufferedBytes: Schema.Union([Schema.Literals([0, 65536, 65537]), between(0, 300_000)])
  })
])
type Limits = typeof Limits.Type

const ChunkSize = Schema.Union([Schema.Literals([1, 2, 7, 127, 128, 129, 4096, 65536]), between(1, 5000)])
const ChunkStreamId = Schema.Union([Schema.Literals([2, 3, 4, 5, 6, 63, 64, 65, 319, 320, 321, 65599]), between(2, 65599)])

/** A hostile chunk (or protocol control message) spliced in at a chunk boundary. */
const HostileChunk = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("setChunkSize"),
    value: Schema.Union([
      Schema.Literals([0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 65536, 65537, 0x1000000, 0x1000001]),
      Uint32
    ]),
    length: Schema.Literals([4, 0, 2, 5])
  }),
  Schema.Struct({ kind: Schema.Literal("abort"), chunkStreamId: Schema.Union([ChunkStreamId, Uint32]) }),
  Schema.Struct({
    kind: Schema.Literal("chunk"),
    fmt: between(0, 3),
    chunkStreamId: ChunkStreamId,
    timestamp: Schema.Union([Schema.Literals([0xffffff, 0xfffffe, 0]), between(0, 0xffffff)]),
    extended: Schema.Union([Schema.Literals([0, 0xffffff, 0x1000000, 0xffffffff]), Uint32]),
    length: Schema.Union([Schema.Literals([0, 1, 128, 129, 0xfffffe, 0xffffff]), between(0, 0xffffff)]),
    typeId: Byte,
    streamId: Uint32,
    payload: Schema.Union([Schema.Literals([0, 128]), between(0, 400)]),
    fill: Byte
  })
])
type HostileChunk = typeof HostileChunk.Type

const ChunkMutation = Schema.Union([
  ByteMutation,
  Schema.Struct({ kind: Schema.Literal("splice"), boundary: between(0, 1000), chunk: HostileChunk, times: between(1, 3) })
])
type ChunkMutation = typeof ChunkMutation.Type

const MessageSpec = Schema.Struct({
  // Set Chunk Size and Abort (1, 2) act on the decoder: sent on purpose (setChunkSize) or spliced in.
  typeId: Schema.Union([Schema.Literals([0, 3, 4, 5, 6, 8, 9, 18, 20, 22]), between(3, 255)]),
  streamId: Schema.Union([Schema.Literals([0, 1, 0xffffffff]), Uint32]),
  chunkStreamId: ChunkStreamId,
  timestamp: Schema.Union([
    Schema.Literals([0, 1, 0xfffffe, 0xffffff, 0x1000000, 2 ** 32 - 1, 2 ** 32 + 5]),
    between(0, 100_000)
  ]),
  length: Schema.Union([Schema.Literals([0, 1, 127, 128, 129, 300, 4096]), between(0, 1500)]),
  fill: Byte,
  /** Send Set Chunk Size (and switch the encoder) before this message. */
  setChunkSize: Schema.Union([Schema.Undefined, ChunkSize])
})
type MessageSpec = typeof MessageSpec.Type

const Fragments = Schema.Struct({
  sizes: Schema.Array(Schema.Union([between(1, 20), between(1, 5000)])).check(Schema.isBetweenLength(1, 4)),
  tiny: Schema.Boolean
})
type Fragments = typeof Fragments.Type

/**
 * A valid message sequence from the chunk encoder (its chunks interleaved across chunk streams when
 * `interleave`), then mutated, fed to a decoder with `limits` in `fragments`.
 */
export const ChunkScenario = Schema.Struct({
  chunkSize: ChunkSize,
  messages: Schema.Array(MessageSpec).check(Schema.isBetweenLength(1, 10)),
  interleave: Schema.Boolean,
  mutations: Schema.Array(ChunkMutation).check(Schema.isMaxLength(6)),
  fragments: Fragments,
  limits: Limits
})
export type ChunkScenario = typeof ChunkScenario.Type

/**
 * Random input: plain random bytes, or random chunk headers (any fmt, a few chunk stream ids, fields with a
 * bias for the places where the decoding changes) with random payload, optionally after a valid start.
 */
export const RandomChunksScenario = Schema.Struct({
  seed: between(0, 2 ** 31 - 1),
  mode: Schema.Literals(["bytes", "chunks"]),
  length: Schema.Union([between(0, 64), between(0, 6000)]),
  start: Schema.Literals(["none", "setChunkSize", "header", "extended"]),
  fragments: Fragments,
  limits: Limits
})
export type RandomChunksScenario = typeof RandomChunksScenario.Type

const basicHeader = (fmt: number, csid: number): Array<number> =>
  csid < 64
    ? [(fmt << 6) | csid]
    : csid < 320
    ? [fmt << 6, csid - 64]
    : [(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >>> 8]

const u24 = (v: number) => [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]
const u32le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]

/** Header bytes of a chunk: basic header, the fmt's message header fields, the extended timestamp if flagged. */
const chunkHeader = (h: {
  fmt: number
  chunkStreamId: number
  timestamp: number
  extended: number
  length: number
  typeId: number
  streamId: number
}): Array<number> => {
  const out = basicHeader(h.fmt, h.chunkStreamId)
  if (h.fmt <= 2) out.push(...u24(h.timestamp))
  if (h.fmt <= 1) out.push(...u24(h.length), h.typeId)
  if (h.fmt === 0) out.push(...u32le(h.streamId))
  if (h.fmt <= 2 ? h.timestamp === 0xffffff : h.extended !== 0) out.push(...u32(h.extended))
  return out
}

const controlMessage = (typeId: number, payload: ReadonlyArray<number>): Array<number> => [
  ...chunkHeader({ fmt: 0, chunkStreamId: 2, timestamp: 0, extended: 0, length: payload.length, typeId, streamId: 0 }),
  ...payload
]

const hostileBytes = (c: HostileChunk): Array<number> => {
  switch (c.kind) {
    case "setChunkSize":
      return controlMessage(1, [...u32(c.value), 0].slice(0, c.length))
    case "abort":
      return controlMessage(2, u32(c.chunkStreamId))
    case "chunk":
      return [...chunkHeader(c), ...Array.from({ length: c.payload }, (_, i) => (c.fill + i) & 0xff)]
  }
}

interface Built {
  readonly wire: Uint8Array
  /** Offsets where a chunk starts (and the end). */
  readonly boundaries: ReadonlyArray<number>
  /** The messages a decoder with default limits must return, in order. */
  readonly expected: ReadonlyArray<RtmpMessage & { readonly payload: Uint8Array; readonly chunkStreamId: number }>
}

/** Encodes the scenario's messages with the chunk encoder; interleaves chunks across chunk streams if asked. */
const buildChunks = (m: Modules, s: ChunkScenario): Built => {
  const encoder = m.ChunkEncoder.make()
  type Expected = Built["expected"][number]
  /** Groups of messages whose chunks are interleaved; each message is a list of chunks (header + payload). */
  const groups: Array<Array<{ readonly message: Expected; readonly chunks: Array<Array<Uint8Array>> }>> = []
  const encode = (message: Expected, alone: boolean) => {
    const pieces = encoder.encode(message)
    const chunks: Array<Array<Uint8Array>> = []
    for (let i = 0; i < pieces.length; i += 2) chunks.push(pieces.slice(i, i + 2))
    const last = groups[groups.length - 1]
    const entry = { message, chunks }
    if (
      !alone && s.interleave && last !== undefined && last.length < 3 &&
      last.every((e) => e.message.chunkStreamId !== message.chunkStreamId && e.message.typeId !== 1)
    ) {
      last.push(entry)
    } else {
      groups.push([entry])
    }
  }
  const setChunkSize = (size: number) => {
    const message = m.ProtocolControl.setChunkSize(size)
    encode({ ...message, payload: message.payload as Uint8Array, chunkStreamId: 2 }, true)
    encoder.setChunkSize(size)
  }
  setChunkSize(s.chunkSize)
  for (const spec of s.messages) {
    if (spec.setChunkSize !== undefined) setChunkSize(spec.setChunkSize)
    const payload = new Uint8Array(spec.length)
    for (let i = 0; i < payload.length; i++) payload[i] = (spec.fill + i * 7) & 0xff
    encode({
      typeId: spec.typeId,
      streamId: spec.streamId,
      timestamp: spec.timestamp,
      chunkStreamId: spec.chunkStreamId,
      payload
    }, false)
  }
  const pieces: Array<Uint8Array> = []
  const boundaries: Array<number> = []
  const expected: Array<{ readonly message: Expected; readonly end: number }> = []
  let offset = 0
  let chunkIndex = 0
  for (const group of groups) {
    const rounds = Math.max(...group.map((e) => e.chunks.length))
    for (let r = 0; r < rounds; r++) {
      for (const entry of group) {
        const chunk = entry.chunks[r]
        if (chunk === undefined) continue
        boundaries.push(offset)
        for (const piece of chunk) {
          pieces.push(piece)
          offset += piece.length
        }
        if (r === entry.chunks.length - 1) expected.push({ message: entry.message, end: chunkIndex })
        chunkIndex++
      }
    }
  }
  boundaries.push(offset)
  expected.sort((a, b) => a.end - b.end)
  return { wire: concat(pieces), boundaries, expected: expected.map((e) => e.message) }
}

const mutateChunks = (built: Built, mutations: ReadonlyArray<ChunkMutation>): Uint8Array => {
  let wire = built.wire
  // Boundaries stay meaningful until the first byte-level mutation shifts them.
  let boundaries: ReadonlyArray<number> | undefined = built.boundaries
  for (const mutation of mutations) {
    if (mutation.kind === "splice") {
      const b: number = boundaries === undefined
        ? at(mutation.boundary * 1000, wire.length)
        : boundaries[mutation.boundary % boundaries.length]!
      const bytes = hostileBytes(mutation.chunk)
      const insert = concat(Array.from({ length: mutation.times }, () => bytes))
      wire = splice(wire, b, 0, insert)
      boundaries = boundaries?.map((x) => (x >= b ? x + insert.length : x))
    } else {
      wire = mutateBytes(wire, mutation)
      boundaries = undefined
    }
  }
  return wire
}

const randomChunks = (s: RandomChunksScenario): Uint8Array => {
  const next = prng(s.seed)
  const int = (n: number) => Math.floor(next() * n)
  const pick = <A>(values: ReadonlyArray<A>): A => values[int(values.length)]!
  const start: Array<number> = s.start === "setChunkSize"
    ? controlMessage(1, u32(pick([1, 2, 7, 128, 4096, 65536])))
    : s.start === "header"
    ? chunkHeader({ fmt: 0, chunkStreamId: 4, timestamp: 0, extended: 0, length: 200, typeId: 8, streamId: 1 })
    : s.start === "extended"
    ? chunkHeader({ fmt: 0, chunkStreamId: 4, timestamp: 0xffffff, extended: 0x1000000, length: 300, typeId: 8, streamId: 1 })
    : []
  if (s.mode === "bytes") return concat([start, randomBytes(s.seed, s.length)])
  const out: Array<number> = [...start]
  const csids = [2, 3, 4, 5, 63, 64, 319, 320, 65599]
  while (out.length < s.length) {
    const r = next()
    if (r < 0.08) {
      out.push(...controlMessage(1, u32(pick([0, 1, 2, 7, 128, 0x80000000, int(2 ** 32)]))))
      continue
    }
    if (r < 0.12) {
      out.push(...controlMessage(2, u32(pick(csids))))
      continue
    }
    const fmt = pick([0, 0, 1, 2, 3, 3])
    out.push(...chunkHeader({
      fmt,
      chunkStreamId: pick(csids),
      timestamp: pick([0, 1, 0xffffff, 0xffffff, 0xfffffe, int(0x1000000)]),
      extended: pick([0, 0, 0x1000000, int(2 ** 32)]),
      length: pick([0, 1, 127, 128, 129, int(600), int(0x1000000)]),
      typeId: int(256),
      streamId: pick([0, 1, int(2 ** 32)])
    }))
    const payload = pick([0, 1, 4, 128, int(300)])
    for (let i = 0; i < payload; i++) out.push(int(256))
  }
  return new Uint8Array(out)
}

const MAX_HEADER = 18

interface Fed {
  readonly messages: ReadonlyArray<DecodedMessage>
  readonly error: string | undefined
  readonly bytes: number
}

/**
 * Pushes `wire` in pieces of `sizes` (cycled) into a decoder with `limits`, checking after each push that it
 * did not throw, answered a Result of messages or a ProtocolError, and held no more than its limits allow.
 */
const feed = (m: Modules, wire: Uint8Array, sizes: ReadonlyArray<number>, limits: Limits): Fed => {
  const max = { ...m.ChunkDecoder.defaultLimits, ...limits }
  const decoder = m.ChunkDecoder.make(limits)
  const messages: Array<DecodedMessage> = []
  const chunkStreams = new Set<number>()
  let bytes = 0
  let offset = 0
  for (let i = 0; offset < wire.length; i++) {
    const size = sizes[i % sizes.length]!
    // A copy, as a socket hands out fresh buffers.
    const piece = wire.slice(offset, offset + size)
    offset += size
    bytes += piece.length
    const result = total("ChunkDecoder.push", () => decoder.push(piece))
    const error = checkResult(m, "ChunkDecoder.push", result, (out) => {
      if (!Array.isArray(out)) fail(`push returned ${String(out)} instead of an array of messages`)
      for (const message of out) {
        checkMessage(message, max.maxMessageSize)
        chunkStreams.add(message.chunkStreamId)
        messages.push(message)
      }
    })
    if (error !== undefined) {
      // A failed decoder stays failed, with the same error, and holds nothing.
      const again = total("ChunkDecoder.push after a failure", () => decoder.push(new Uint8Array([3, 0, 0, 0])))
      if (!Result.isFailure(again) || again.failure.reason !== error) {
        fail(`after "${error}", push answered ${JSON.stringify(again)}`)
      }
      if (decoder.bufferedBytes !== 0) fail(`a failed decoder holds ${decoder.bufferedBytes} bytes`)
      return { messages, error, bytes }
    }
    // The chunk size is the initial 128 or one the peer set within maxChunkSize.
    const chunkSize = decoder.chunkSize
    if (chunkSize !== 128 && !(Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= max.maxChunkSize)) {
      fail(`chunk size ${chunkSize} is outside 1..${max.maxChunkSize}`)
    }
    if (decoder.bufferedBytes > max.maxBufferedBytes + MAX_HEADER - 1) {
      fail(`the decoder holds ${decoder.bufferedBytes} bytes, over maxBufferedBytes ${max.maxBufferedBytes} + 17`)
    }
    if (chunkStreams.size > max.maxChunkStreams) {
      fail(`messages on ${chunkStreams.size} chunk streams, over maxChunkStreams ${max.maxChunkStreams}`)
    }
  }
  return { messages, error: undefined, bytes }
}

const checkMessage = (message: DecodedMessage, maxMessageSize: number): void => {
  const { chunkStreamId, payload, streamId, timestamp, typeId } = message
  const ok = Number.isInteger(typeId) && typeId >= 0 && typeId <= 255 &&
    Number.isInteger(streamId) && streamId >= 0 && streamId < 2 ** 32 &&
    Number.isInteger(timestamp) && timestamp >= 0 && timestamp < 2 ** 32 &&
    Number.isInteger(chunkStreamId) && chunkStreamId >= 2 && chunkStreamId <= 65599 &&
    payload instanceof Uint8Array
  if (!ok) fail(`malformed message ${JSON.stringify({ typeId, streamId, timestamp, chunkStreamId })}`)
  if (payload.length > maxMessageSize) fail(`a message of ${payload.length} bytes, over maxMessageSize ${maxMessageSize}`)
}

const summary = (message: DecodedMessage) =>
  `${message.chunkStreamId}/${message.typeId}/${message.streamId}@${message.timestamp}:${
    Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength).toString("hex")
  }`

const sizesOf = (f: Fragments): ReadonlyArray<number> => (f.tiny ? f.sizes.map((n) => 1 + (n % 7)) : f.sizes)

/**
 * Feeds `wire` three ways (the scenario's fragments, one byte at a time, all at once) and checks that the
 * outcomes agree: the same error (or none), and the messages of each a prefix of the byte-by-byte ones (a push
 * that fails drops the messages it completed before the fault), all of them when there is no error.
 */
const decodeThreeWays = (m: Modules, wire: Uint8Array, fragments: Fragments, limits: Limits): Outcome => {
  const a = feed(m, wire, sizesOf(fragments), limits)
  // Byte by byte is the reference: every message completed before a fault is returned.
  const b = feed(m, wire, [1], limits)
  const c = feed(m, wire, [Math.max(1, wire.length)], limits)
  const reference = b.messages.map(summary)
  for (const [name, other] of [["fragmented", a], ["whole", c]] as const) {
    if (other.error !== b.error) {
      fail(`fed ${name}, the error is ${JSON.stringify(other.error)}; byte by byte, ${JSON.stringify(b.error)}`)
    }
    const got = other.messages.map(summary)
    const prefix = got.length <= reference.length && got.every((s, i) => s === reference[i])
    if (!prefix || (b.error === undefined && got.length !== reference.length)) {
      fail(`fed ${name}, ${got.length} messages differ from the ${reference.length} decoded byte by byte`)
    }
  }
  return { bytes: a.bytes + b.bytes + c.bytes, decoded: b.messages.length, errors: b.error === undefined ? [] : [b.error] }
}

/** Runs one {@link ChunkScenario}; throws {@link FuzzFailure} on a broken contract. */
export const runChunkScenario = (m: Modules, s: ChunkScenario): Outcome => {
  const built = buildChunks(m, s)
  const wire = mutateChunks(built, s.mutations)
  const outcome = decodeThreeWays(m, wire, s.fragments, s.limits)
  if (s.mutations.length === 0 && s.limits === undefined) {
    // Unmutated, with the default limits: exactly the encoded messages (the generator makes valid streams).
    const decoded = feed(m, wire, sizesOf(s.fragments), undefined)
    const want = built.expected.map((e) => summary({ ...e, timestamp: e.timestamp % 2 ** 32 }))
    const got = decoded.messages.map(summary)
    if (decoded.error !== undefined || got.length !== want.length || got.some((g, i) => g !== want[i])) {
      fail(`a valid stream did not decode to its messages: ${decoded.error ?? `${got.length} of ${want.length}`}`)
    }
  }
  return outcome
}

/** Runs one {@link RandomChunksScenario}; throws {@link FuzzFailure} on a broken contract. */
export const runRandomChunksScenario = (m: Modules, s: RandomChunksScenario): Outcome =>
  decodeThreeWays(m, randomChunks(s), s.fragments, s.limits)

// ---------------------------------------------------------------------------------------------------------
// AMF0, commands, protocol control
// ---------------------------------------------------------------------------------------------------------

/** A Schema-described AMF0 value (ECMA arrays are a class, objects may have a `__proto__` key). */
export type Tree =
  | number
  | boolean
  | string
  | null
  | undefined
  | { readonly kind: "object" | "ecma"; readonly entries: ReadonlyArray<readonly [string, Tree]> }
  | { readonly kind: "array"; readonly items: ReadonlyArray<Tree> }
  | { readonly kind: "date"; readonly ms: number }

export const Tree: Schema.Codec<Tree> = Schema.Union([
  Schema.Number,
  Schema.Boolean,
  Schema.String,
  Schema.Null,
  Schema.Undefined,
  Schema.Struct({
    kind: Schema.Literals(["object", "ecma"]),
    entries: Schema.Array(Schema.Tuple([
      Schema.Union([Schema.Literals(["", "__proto__", "constructor", "0", "level", "code"]), Schema.String]),
      Schema.suspend(() => Tree)
    ]))
  }),
  Schema.Struct({ kind: Schema.Literal("array"), items: Schema.Array(Schema.suspend(() => Tree)) }),
  Schema.Struct({ kind: Schema.Literal("date"), ms: Schema.Union([Schema.Int, Schema.Number]) })
])

const setOwn = (record: Record<string, Amf0Module.Amf0Value>, key: string, value: Amf0Module.Amf0Value) =>
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true })

const toAmf0 = (m: Modules, tree: Tree): Amf0Module.Amf0Value => {
  if (tree === null || typeof tree !== "object") return tree
  switch (tree.kind) {
    case "date":
      return new Date(tree.ms)
    case "array":
      return tree.items.map((t) => toAmf0(m, t))
    case "object":
    case "ecma": {
      const record: Record<string, Amf0Module.Amf0Value> = {}
      for (const [key, value] of tree.entries) setOwn(record, key, toAmf0(m, value))
      return tree.kind === "ecma" ? new m.Amf0.Amf0EcmaArray(record) : record
    }
  }
}

/** Nesting of containers (objects, ECMA arrays, strict arrays) along the deepest path. */
const nesting = (m: Modules, value: Amf0Module.Amf0Value): number => {
  if (value === null || typeof value !== "object" || value instanceof Date) return 0
  const children = Array.isArray(value)
    ? value as ReadonlyArray<Amf0Module.Amf0Value>
    : Object.values(value instanceof m.Amf0.Amf0EcmaArray ? value.entries : value as Amf0Module.Amf0Object)
  let deepest = 0
  for (const child of children) deepest = Math.max(deepest, nesting(m, child))
  return 1 + deepest
}

/** A decoded value is one of the AMF0 shapes; objects are plain (no prototype set from the input). */
const checkValue = (m: Modules, value: unknown): void => {
  switch (typeof value) {
    case "number":
    case "boolean":
    case "string":
    case "undefined":
      return
    case "object": {
      if (value === null || value instanceof Date) return
      if (Array.isArray(value)) {
        for (const item of value) checkValue(m, item)
        return
      }
      const record = value instanceof m.Amf0.Amf0EcmaArray ? value.entries : value
      if (Object.getPrototypeOf(record) !== Object.prototype) fail(`a decoded object has another prototype`)
      for (const key of Object.keys(record)) checkValue(m, (record as Record<string, unknown>)[key])
      return
    }
    default:
      fail(`a decoded value of type ${typeof value}`)
  }
}

/** Deep equality for AMF0 values: Object.is on numbers (NaN, -0), Dates by time, key order kept. */
export const amfEqual = (m: Modules, a: Amf0Module.Amf0Value, b: Amf0Module.Amf0Value): boolean => {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b)
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime())
  }
  const E = m.Amf0.Amf0EcmaArray
  if (a instanceof E || b instanceof E) {
    return a instanceof E && b instanceof E && recordEqual(m, a.entries, b.entries)
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    const x = a as ReadonlyArray<Amf0Module.Amf0Value>
    const y = b as ReadonlyArray<Amf0Module.Amf0Value>
    return Array.isArray(a) && Array.isArray(b) && x.length === y.length && x.every((v, i) => amfEqual(m, v, y[i]))
  }
  return recordEqual(m, a as Amf0Module.Amf0Object, b as Amf0Module.Amf0Object)
}

const recordEqual = (
  m: Modules,
  a: Readonly<Record<string, Amf0Module.Amf0Value>>,
  b: Readonly<Record<string, Amf0Module.Amf0Value>>
) => {
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && amfEqual(m, a[k], b[k]))
}

/** What a value becomes through UTF-8: lone surrogates turn into U+FFFD, in strings and keys. */
const utf8 = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s))
const normalized = (m: Modules, value: Amf0Module.Amf0Value): Amf0Module.Amf0Value => {
  if (typeof value === "string") return utf8(value)
  if (value instanceof Date) return new Date(value.getTime())
  if (value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return (value as ReadonlyArray<Amf0Module.Amf0Value>).map((v) => normalized(m, v))
  const E = m.Amf0.Amf0EcmaArray
  const source = value instanceof E ? value.entries : value as Amf0Module.Amf0Object
  const record: Record<string, Amf0Module.Amf0Value> = {}
  for (const key of Object.keys(source)) setOwn(record, utf8(key), normalized(m, source[key]))
  return value instanceof E ? new E(record) : record
}

/** AMF0 fragments that decoders get wrong: forged lengths and counts, unsupported and stray markers. */
const HostileAmf0 = Schema.Literals([
  "longStringHuge", // 0x0C with length 0xFFFFFFFF
  "stringHuge", // 0x02 with length 0xFFFF
  "strictArrayHuge", // 0x0A count 0xFFFFFFFF
  "ecmaArrayHuge", // 0x08 count 0xFFFFFFFF, no end
  "typedObject", // 0x10 with a class name
  "reference", // 0x07
  "avmPlus", // 0x11
  "objectEnd", // 00 00 09 outside an object
  "objectStart", // 0x03, unterminated
  "date", // 0x0B, truncated
  "nested" // 200 nested strict arrays of one element
])
type HostileAmf0 = typeof HostileAmf0.Type

const hostileAmf0 = (token: HostileAmf0): Array<number> => {
  switch (token) {
    case "longStringHuge":
      return [0x0c, 0xff, 0xff, 0xff, 0xff, 0x61]
    case "stringHuge":
      return [0x02, 0xff, 0xff, 0x61]
    case "strictArrayHuge":
      return [0x0a, 0xff, 0xff, 0xff, 0xff, 0x05]
    case "ecmaArrayHuge":
      return [0x08, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x61, 0x05]
    case "typedObject":
      return [0x10, 0x00, 0x03, 0x46, 0x6f, 0x6f, 0x00, 0x01, 0x61, 0x01, 0x01, 0x00, 0x00, 0x09]
    case "reference":
      return [0x07, 0x00, 0x01]
    case "avmPlus":
      return [0x11, 0x02]
    case "objectEnd":
      return [0x00, 0x00, 0x09]
    case "objectStart":
      return [0x03, 0x00, 0x01, 0x61]
    case "date":
      return [0x0b, 0x42, 0x77]
    case "nested":
      return Array.from({ length: 200 }, () => [0x0a, 0, 0, 0, 1]).flat()
  }
}

const Amf0Mutation = Schema.Union([
  ByteMutation,
  Schema.Struct({ kind: Schema.Literal("splice"), at: Position, token: HostileAmf0 })
])
type Amf0Mutation = typeof Amf0Mutation.Type

/**
 * AMF0 values (a command's shape when `command`: name, transaction id, command object, info object), possibly
 * wrapped `depth` levels deep, encoded, then mutated, decoded with `maxDepth`.
 */
export const Amf0Scenario = Schema.Struct({
  values: Schema.Array(Tree).check(Schema.isMaxLength(6)),
  command: Schema.Union([
    Schema.Undefined,
    Schema.Struct({
      name: Schema.Union([Schema.Literals(["_result", "_error", "onStatus", "onBWDone", ""]), Schema.String]),
      transactionId: Schema.Union([Schema.Number, Tree]),
      commandObject: Tree,
      info: Schema.Union([
        Tree,
        Schema.Struct({
          level: Schema.Union([Schema.Literals(["status", "error", "warning"]), Tree]),
          code: Schema.Union([Schema.Literals(["NetStream.Publish.Start", "NetConnection.Connect.Rejected"]), Tree]),
          description: Tree
        })
      ])
    })
  ]),
  deep: Schema.Union([
    Schema.Undefined,
    Schema.Struct({
      depth: Schema.Union([Schema.Literals([63, 64, 65]), between(0, 300)]),
      kinds: Schema.Array(Schema.Literals(["object", "ecma", "array"])).check(Schema.isBetweenLength(1, 3))
    })
  ]),
  maxDepth: Schema.Union([Schema.Undefined, between(0, 200)]),
  mutations: Schema.Array(Amf0Mutation).check(Schema.isMaxLength(5))
})
export type Amf0Scenario = typeof Amf0Scenario.Type

/** Random bytes given to AMF0 decoding, Commands.parse and the protocol control parsers. */
export const RandomAmf0Scenario = Schema.Struct({
  seed: between(0, 2 ** 31 - 1),
  length: Schema.Union([between(0, 16), between(0, 4000)]),
  /** Bias toward AMF0 markers (0x00-0x11) rather than uniform bytes. */
  markers: Schema.Boolean,
  maxDepth: Schema.Union([Schema.Undefined, between(0, 200)])
})
export type RandomAmf0Scenario = typeof RandomAmf0Scenario.Type

const buildAmf0 = (m: Modules, s: Amf0Scenario): ReadonlyArray<Amf0Module.Amf0Value> => {
  const values: Array<Amf0Module.Amf0Value> = []
  if (s.command !== undefined) {
    const c = s.command
    const info = c.info !== null && typeof c.info === "object" && "code" in c.info
      ? { level: toAmf0(m, c.info.level as Tree), code: toAmf0(m, c.info.code as Tree), description: toAmf0(m, c.info.description) }
      : toAmf0(m, c.info as Tree)
    values.push(c.name, toAmf0(m, c.transactionId), toAmf0(m, c.commandObject), info)
  }
  for (const tree of s.values) values.push(toAmf0(m, tree))
  if (s.deep !== undefined) {
    let value: Amf0Module.Amf0Value = values.pop() ?? "leaf"
    for (let i = 0; i < s.deep.depth; i++) {
      const kind = s.deep.kinds[i % s.deep.kinds.length]!
      value = kind === "array" ? [value] : kind === "ecma" ? new m.Amf0.Amf0EcmaArray({ k: value }) : { k: value }
    }
    values.push(value)
  }
  return values
}

const objectPrototypeKeys = Object.getOwnPropertyNames(Object.prototype).length

/**
 * Decodes AMF0 bytes and checks the contract: no throw, values of the AMF0 shapes nested no deeper than
 * `maxDepth`, or a ProtocolError; decoded values survive encode/decode unchanged; `Commands.parse` agrees with
 * `Amf0.decode` and never throws; the protocol control parsers never throw on the same bytes.
 */
const checkAmf0Bytes = (m: Modules, bytes: Uint8Array, maxDepth: number | undefined): Outcome => {
  const options = maxDepth === undefined ? undefined : { maxDepth }
  const limit = maxDepth ?? 64
  let values: ReadonlyArray<Amf0Module.Amf0Value> = []
  const result = total("Amf0.decode", () => m.Amf0.decode(bytes, options))
  const error = checkResult(m, "Amf0.decode", result, (decoded) => {
    if (!Array.isArray(decoded)) fail(`Amf0.decode returned ${String(decoded)} instead of an array`)
    values = decoded
    for (const value of decoded) {
      checkValue(m, value)
      const depth = nesting(m, value)
      if (depth > limit) fail(`a value nested ${depth} deep, over maxDepth ${limit}`)
    }
  })
  if (Object.getOwnPropertyNames(Object.prototype).length !== objectPrototypeKeys) fail("decoding changed Object.prototype")
  let fed = bytes.length
  if (error === undefined) {
    // Decoded values are a fixed point of encode/decode (unless a key grew past 65535 bytes through U+FFFD).
    let again: Uint8Array | undefined
    try {
      again = m.Amf0.encode(values)
    } catch (e) {
      if (!(e instanceof RangeError && /object key/.test(e.message))) fail(`Amf0.encode threw: ${describeThrown(e)}`)
    }
    if (again !== undefined) {
      fed += again.length
      const second = total("Amf0.decode", () => m.Amf0.decode(again, options))
      if (!Result.isSuccess(second) || !amfEqual(m, second.success as Array<Amf0Module.Amf0Value>, values as Array<Amf0Module.Amf0Value>)) {
        fail(`decoded values changed through encode/decode`)
      }
    }
  }
  // Commands.parse: the same verdict as Amf0.decode with the default depth, never a throw.
  const message = { typeId: 20, streamId: 1, timestamp: 0, chunkStreamId: 3, payload: bytes }
  const parsed = total("Commands.parse", () => m.Commands.parse(message))
  const plain = total("Amf0.decode", () => m.Amf0.decode(bytes))
  checkResult(m, "Commands.parse", parsed, (command) => {
    const ok = command._tag === "Result"
      ? typeof command.transactionId === "number" && Array.isArray(command.values)
      : command._tag === "Error" || command._tag === "OnStatus"
      ? typeof command.info.code === "string"
      : command._tag === "Other" && typeof command.name === "string"
    if (!ok) fail(`Commands.parse returned ${JSON.stringify(command)}`)
  })
  if (Result.isFailure(parsed) !== Result.isFailure(plain)) fail("Commands.parse and Amf0.decode disagree")
  // Protocol control parsers on the same bytes.
  checkResult(m, "ProtocolControl.parseUserControl", total("parseUserControl", () => m.ProtocolControl.parseUserControl(bytes)), (e) => {
    if (typeof e._tag !== "string") fail(`parseUserControl returned ${JSON.stringify(e)}`)
  })
  const word = total("readUint32", () => m.ProtocolControl.readUint32(bytes))
  if (Result.isSuccess(word) !== bytes.length >= 4) fail(`readUint32 on ${bytes.length} bytes: ${JSON.stringify(word)}`)
  checkResult(m, "ProtocolControl.readUint32", word, (n) => {
    if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) fail(`readUint32 returned ${n}`)
  })
  checkResult(m, "ProtocolControl.parseSetPeerBandwidth", total("parseSetPeerBandwidth", () => m.ProtocolControl.parseSetPeerBandwidth(bytes)), (b) => {
    if (!Number.isInteger(b.size) || !Number.isInteger(b.limitType)) fail(`parseSetPeerBandwidth returned ${JSON.stringify(b)}`)
  })
  return { bytes: fed, decoded: values.length, errors: error === undefined ? [] : [error] }
}

/** Runs one {@link Amf0Scenario}; throws {@link FuzzFailure} on a broken contract. */
export const runAmf0Scenario = (m: Modules, s: Amf0Scenario): Outcome => {
  const values = buildAmf0(m, s)
  const encoded = m.Amf0.encode(values)
  let bytes = encoded
  for (const mutation of s.mutations) {
    bytes = mutation.kind === "splice"
      ? splice(bytes, at(mutation.at, bytes.length), 0, hostileAmf0(mutation.token))
      : mutateBytes(bytes, mutation)
  }
  const outcome = checkAmf0Bytes(m, bytes, s.maxDepth)
  if (s.mutations.length === 0) {
    // Unmutated: the values themselves, or a depth error exactly when they nest deeper than maxDepth.
    const limit = s.maxDepth ?? 64
    const deepest = Math.max(0, ...values.map((v) => nesting(m, v)))
    const result = m.Amf0.decode(bytes, s.maxDepth === undefined ? undefined : { maxDepth: s.maxDepth })
    if (deepest > limit) {
      if (!Result.isFailure(result) || !/nested deeper/.test(result.failure.reason)) {
        fail(`values nested ${deepest} deep decoded with maxDepth ${limit}`)
      }
    } else if (!Result.isSuccess(result) || !amfEqual(m, result.success as Array<Amf0Module.Amf0Value>, values.map((v) => normalized(m, v)))) {
      fail(`valid AMF0 did not decode to its values`)
    }
    if (s.command !== undefined && deepest <= 64) {
      const parsed = m.Commands.parse({ typeId: 20, streamId: 1, timestamp: 0, chunkStreamId: 3, payload: bytes })
      const name = utf8(s.command.name)
      const want = name === "_result" ? "Result" : name === "_error" ? "Error" : name === "onStatus" ? "OnStatus" : "Other"
      if (!Result.isSuccess(parsed) || parsed.success._tag !== want) fail(`Commands.parse of ${JSON.stringify(name)} is not ${want}`)
    }
  }
  return outcome
}

const randomAmf0Bytes = (s: RandomAmf0Scenario): Uint8Array => {
  if (!s.markers) return randomBytes(s.seed, s.length)
  const next = prng(s.seed)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < out.length; i++) {
    const r = next()
    out[i] = r < 0.5 ? Math.floor(next() * 0x12) : r < 0.75 ? Math.floor(next() * 4) : Math.floor(next() * 256)
  }
  return out
}

/** Runs one {@link RandomAmf0Scenario}; throws {@link FuzzFailure} on a broken contract. */
export const runRandomAmf0Scenario = (m: Modules, s: RandomAmf0Scenario): Outcome =>
  checkAmf0Bytes(m, randomAmf0Bytes(s), s.maxDepth)

// ---------------------------------------------------------------------------------------------------------
// The scenarios by name, for the fuzz script
// ---------------------------------------------------------------------------------------------------------

/** Every scenario kind with its Arbitrary and runner. */
export const kinds = {
  chunks: { arbitrary: Arbitrary.schema(ChunkScenario), run: runChunkScenario },
  randomChunks: { arbitrary: Arbitrary.schema(RandomChunksScenario), run: runRandomChunksScenario },
  amf0: { arbitrary: Arbitrary.schema(Amf0Scenario), run: runAmf0Scenario },
  randomAmf0: { arbitrary: Arbitrary.schema(RandomAmf0Scenario), run: runRandomAmf0Scenario }
} as const satisfies Record<string, {
  readonly arbitrary: Arbitrary.Arbitrary<any>
  readonly run: (m: Modules, s: any) => Outcome
}>
