/**
 * The chunk encoder (RTMP spec 5.3): splits outgoing messages into chunks of at most the chunk size, each
 * behind a chunk header, with the header compression of the spec.
 *
 * It returns header bytes beside slices (`subarray`) of the message payload, in wire order, ready for one
 * `Connection.write`: payloads are never copied. It is mutable (it remembers the last header sent on each
 * chunk stream), so use one encoder per connection and encode messages in the order they are written.
 *
 * Header compression, per chunk stream:
 * - fmt 0 (11 bytes) for the first message, when the message stream id changes, when the timestamp goes
 *   backwards, or when the delta does not fit 32 bits;
 * - fmt 1 (7 bytes) when the message length or type changed;
 * - fmt 2 (3 bytes) when only the timestamp delta changed;
 * - fmt 3 (0 bytes) when length, type and delta equal those of the previous message. A fmt 3 new message is
 *   never sent right after a fmt 0 header (fmt 2 is used instead): the spec, FFmpeg and GStreamer then reuse
 *   the fmt 0 absolute timestamp as the delta, a corner other implementations get wrong.
 *
 * Extended timestamp: a timestamp (fmt 0) or delta (fmt 1/2) of 0xFFFFFF or more is written as 0xFFFFFF
 * followed by the 4-byte extended timestamp, which is repeated on every fmt 3 chunk of that message, and on
 * fmt 3 new messages whose reused delta is extended (as FFmpeg, GStreamer and Adobe's servers do).
 *
 * Timestamps are written modulo 2^32 and deltas computed on the caller's (unwrapped) timestamps, so a stream
 * longer than 49.7 days wraps the way the spec says.
 *
 * @since 0.1.0
 */
import {
  basicHeaderSize,
  EXTENDED_TIMESTAMP,
  MAX_CHUNK_STREAM_ID,
  MAX_MESSAGE_LENGTH,
  MESSAGE_HEADER_SIZE,
  MIN_CHUNK_STREAM_ID,
  TWO_POW_32,
  writeBasicHeader,
  writeUint24,
  writeUint32,
  writeUint32LE
} from "./internal/chunkHeader.ts"
import type { RtmpMessage } from "./Message.ts"
import { MessageType, payloadLength } from "./Message.ts"

/**
 * The chunk stream ids used when a message has no `chunkStreamId`: one per kind of message, so that each
 * chunk stream carries messages of one kind (which keeps header compression effective):
 *
 * - `ProtocolControl` 2: Set Chunk Size, Abort, Acknowledgement, User Control, Window Acknowledgement Size,
 *   Set Peer Bandwidth (types 1-6; the spec requires chunk stream 2 for them);
 * - `Command` 3: AMF0/AMF3 commands (types 20, 17) and shared objects (19, 16);
 * - `Audio` 4: audio (type 8);
 * - `Data` 5: AMF0/AMF3 data messages (types 18, 15), such as `@setDataFrame`/`onMetaData`;
 * - `Video` 6: video (type 9);
 * - `Aggregate` 7: aggregate messages (type 22);
 * - any other type goes on 3.
 *
 * @since 0.1.0
 */
export const ChunkStreamId = {
  ProtocolControl: 2,
  Command: 3,
  Audio: 4,
  Data: 5,
  Video: 6,
  Aggregate: 7
} as const

/**
 * The chunk stream id the encoder uses for a message type when the message does not name one.
 *
 * @since 0.1.0
 */
export const chunkStreamIdFor = (typeId: number): number => {
  if (typeId >= MessageType.SetChunkSize && typeId <= MessageType.SetPeerBandwidth) {
    return ChunkStreamId.ProtocolControl
  }
  switch (typeId) {
    case MessageType.Audio:
      return ChunkStreamId.Audio
    case MessageType.Video:
      return ChunkStreamId.Video
    case MessageType.DataAmf0:
    case MessageType.DataAmf3:
      return ChunkStreamId.Data
    case MessageType.Aggregate:
      return ChunkStreamId.Aggregate
    default:
      return ChunkStreamId.Command
  }
}

/**
 * The chunk size both sides start with (RTMP spec 5.4.1).
 *
 * @since 0.1.0
 */
export const DEFAULT_CHUNK_SIZE = 128

/**
 * The largest chunk size: the Set Chunk Size value is 31 bits.
 *
 * @since 0.1.0
 */
export const MAX_CHUNK_SIZE = 0x7fffffff

/**
 * A chunk encoder for one connection.
 *
 * @since 0.1.0
 */
export interface ChunkEncoder {
  /** The current outgoing chunk size. */
  readonly chunkSize: number
  /**
   * Changes the outgoing chunk size for the messages encoded after the call. Send the Set Chunk Size message
   * itself first (it is encoded with the old size), then call this. Throws a `RangeError` outside 1..2^31-1.
   */
  readonly setChunkSize: (size: number) => void
  /**
   * Encodes one message into its chunks: header bytes beside payload slices, in wire order. The result
   * shares memory with the payload: do not modify the payload until it has been written.
   *
   * Throws a `RangeError` on a message the wire cannot carry (a programming error, not a peer's): a chunk
   * stream id outside 2..65599, a type id outside 0..255, a message stream id outside 0..2^32-1, a payload
   * longer than 16777215 bytes, or a timestamp that is not a non-negative integer.
   */
  readonly encode: (message: RtmpMessage) => Array<Uint8Array>
}

/**
 * Options of {@link make}. `chunkSize` is the starting outgoing chunk size, 128 by default as the spec says;
 * only set it when this side has already told the peer another size.
 *
 * @since 0.1.0
 */
export interface Options {
  readonly chunkSize?: number | undefined
}

/** What was last sent on one chunk stream. */
interface ChunkStreamState {
  streamId: number
  typeId: number
  length: number
  /** The caller's timestamp of the last message (not wrapped). */
  timestamp: number
  /** The value of the last timestamp field: absolute after fmt 0, the delta after fmt 1/2/3. */
  timestampField: number
  /** The last message used fmt 0: the next one must not be a fmt 3 new message. */
  afterFmt0: boolean
}

/** Header bytes are carved from slabs; a slab is never reused, so returned headers stay valid. */
const SLAB_SIZE = 16384

const checkChunkSize = (size: number): void => {
  if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new RangeError(`chunk size must be an integer in 1..${MAX_CHUNK_SIZE}, got ${size}`)
  }
}

/**
 * Creates a chunk encoder for a new connection (chunk size 128 unless `options.chunkSize` says otherwise).
 *
 * @since 0.1.0
 */
export const make = (options?: Options): ChunkEncoder => {
  let chunkSize = options?.chunkSize ?? DEFAULT_CHUNK_SIZE
  checkChunkSize(chunkSize)
  const states = new Map<number, ChunkStreamState>()
  let slab = new Uint8Array(SLAB_SIZE)
  let slabOffset = 0

  const allocate = (size: number): number => {
    if (slabOffset + size > slab.length) {
      slab = new Uint8Array(Math.max(SLAB_SIZE, size))
      slabOffset = 0
    }
    const at = slabOffset
    slabOffset += size
    return at
  }

  const encode = (message: RtmpMessage): Array<Uint8Array> => {
    const csid = message.chunkStreamId ?? chunkStreamIdFor(message.typeId)
    if (!Number.isInteger(csid) || csid < MIN_CHUNK_STREAM_ID || csid > MAX_CHUNK_STREAM_ID) {
      throw new RangeError(`chunk stream id must be in ${MIN_CHUNK_STREAM_ID}..${MAX_CHUNK_STREAM_ID}, got ${csid}`)
    }
    const typeId = message.typeId
    if (!Number.isInteger(typeId) || typeId < 0 || typeId > 255) {
      throw new RangeError(`message type id must be in 0..255, got ${typeId}`)
    }
    const streamId = message.streamId
    if (!Number.isInteger(streamId) || streamId < 0 || streamId >= TWO_POW_32) {
      throw new RangeError(`message stream id must be in 0..2^32-1, got ${streamId}`)
    }
    const timestamp = message.timestamp
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new RangeError(`timestamp must be a non-negative integer, got ${timestamp}`)
    }
    const payload = message.payload
    const length = payloadLength(payload)
    if (length > MAX_MESSAGE_LENGTH) {
      throw new RangeError(`message length ${length} is over the RTMP maximum ${MAX_MESSAGE_LENGTH}`)
    }

    // Pick the header format.
    let state = states.get(csid)
    let fmt: number
    let field: number
    if (
      state === undefined || state.streamId !== streamId || timestamp < state.timestamp ||
      timestamp - state.timestamp >= TWO_POW_32
    ) {
      fmt = 0
      field = timestamp % TWO_POW_32
    } else {
      field = timestamp - state.timestamp
      if (length !== state.length || typeId !== state.typeId) fmt = 1
      else if (state.afterFmt0 || field !== state.timestampField) fmt = 2
      else fmt = 3
    }
    const extended = field >= EXTENDED_TIMESTAMP

    // Header bytes: the first chunk's, then one fmt 3 header shared by all continuation chunks.
    const chunks = length === 0 ? 1 : Math.ceil(length / chunkSize)
    const basicSize = basicHeaderSize(csid)
    const extSize = extended ? 4 : 0
    const firstSize = basicSize + MESSAGE_HEADER_SIZE[fmt]! + extSize
    const contSize = basicSize + extSize
    const start = allocate(firstSize + (chunks > 1 ? contSize : 0))
    const buf = slab
    let p = writeBasicHeader(buf, start, fmt, csid)
    if (fmt <= 2) {
      writeUint24(buf, p, extended ? EXTENDED_TIMESTAMP : field)
      if (fmt <= 1) {
        writeUint24(buf, p + 3, length)
        buf[p + 6] = typeId
        if (fmt === 0) writeUint32LE(buf, p + 7, streamId)
      }
      p += MESSAGE_HEADER_SIZE[fmt]!
    }
    if (extended) writeUint32(buf, p, field)
    const first = buf.subarray(start, start + firstSize)
    let continuation: Uint8Array | undefined
    if (chunks > 1) {
      const c = start + firstSize
      writeBasicHeader(buf, c, 3, csid)
      if (extended) writeUint32(buf, c + basicSize, field)
      continuation = buf.subarray(c, c + contSize)
    }

    // Remember this header.
    if (state === undefined) {
      state = { streamId, typeId, length, timestamp, timestampField: field, afterFmt0: fmt === 0 }
      states.set(csid, state)
    } else {
      state.streamId = streamId
      state.typeId = typeId
      state.length = length
      state.timestamp = timestamp
      state.timestampField = field
      state.afterFmt0 = fmt === 0
    }

    // Interleave headers and payload slices.
    const out: Array<Uint8Array> = [first]
    if (length === 0) return out
    if (payload instanceof Uint8Array) {
      if (chunks === 1) {
        out.push(payload)
        return out
      }
      for (let offset = 0; offset < length; offset += chunkSize) {
        if (offset > 0) out.push(continuation!)
        out.push(payload.subarray(offset, Math.min(offset + chunkSize, length)))
      }
      return out
    }
    let pieceIndex = 0
    let pieceOffset = 0
    let remaining = length
    let first_ = true
    while (remaining > 0) {
      if (!first_) out.push(continuation!)
      first_ = false
      let need = remaining < chunkSize ? remaining : chunkSize
      remaining -= need
      while (need > 0) {
        const piece = payload[pieceIndex]!
        const available = piece.length - pieceOffset
        if (available === 0) {
          pieceIndex++
          pieceOffset = 0
          continue
        }
        const take = available < need ? available : need
        out.push(pieceOffset === 0 && take === piece.length ? piece : piece.subarray(pieceOffset, pieceOffset + take))
        pieceOffset += take
        need -= take
      }
    }
    return out
  }

  return {
    get chunkSize() {
      return chunkSize
    },
    setChunkSize: (size: number) => {
      checkChunkSize(size)
      chunkSize = size
    },
    encode
  }
}
