/**
 * The chunk decoder (RTMP spec 5.3): reassembles the messages a peer sends from its chunks.
 *
 * {@link make} gives a synchronous, IO-free decoder: push bytes as they arrive (split anywhere), get back the
 * messages they complete. {@link decode} is the thin Stream shell over it for a connection's `reads`.
 *
 * What it handles:
 * - chunk header formats 0-3 and 1/2/3-byte basic headers, interleaved chunk streams;
 * - extended timestamps, also on fmt 3 chunks: when the last header of a chunk stream had an extended
 *   timestamp, the 4 bytes after a fmt 3 header are taken as its repetition when they equal it (FFmpeg,
 *   GStreamer and Adobe's servers repeat it; some peers do not) and as payload otherwise;
 * - a fmt 3 header that starts a new message reuses the previous timestamp field as its delta (after a
 *   fmt 0 header, that is the absolute timestamp, as the spec, FFmpeg and GStreamer read it);
 * - the peer's Set Chunk Size (type 1) and Abort (type 2) messages, applied here and still emitted;
 * - timestamps are absolute, modulo 2^32.
 *
 * Limits (see {@link DecoderLimits}) turn a hostile or broken peer into a `ProtocolError` rather than into
 * unbounded memory. After a `ProtocolError` the decoder is unusable: every later push fails the same way.
 *
 * @since 0.1.0
 */
import type { Pull } from "effect"
import { Array as Arr, Effect, Result, Stream } from "effect"
import {
  EXTENDED_TIMESTAMP,
  MESSAGE_HEADER_SIZE,
  readUint24,
  readUint32,
  readUint32LE,
  TWO_POW_32
} from "./internal/chunkHeader.ts"
import type { DecodedMessage } from "./Message.ts"
import { MessageType } from "./Message.ts"
import { ProtocolError } from "./RtmpError.ts"

/**
 * Limits on what a peer may make the decoder hold.
 *
 * - `maxChunkSize`: the largest Set Chunk Size accepted (default 16 MiB);
 * - `maxMessageSize`: the largest message length accepted (default 16 MiB - 1, the protocol's own maximum);
 * - `maxChunkStreams`: how many chunk streams the peer may use (default 64);
 * - `maxBufferedBytes`: how many bytes of incomplete messages may be held across all chunk streams
 *   (default 64 MiB).
 *
 * Memory for a message grows with the bytes actually received (in powers of two from 64 KiB, never past the
 * message length), so a peer cannot make the decoder allocate by announcing long messages it never sends.
 * `maxBufferedBytes` is checked when each chunk header is read, against what the message's buffer will hold
 * at the end of that chunk: whether a peer passes it depends only on the bytes it sends, never on how they
 * were split into reads, and the decoder fails before allocating past it.
 *
 * @since 0.1.0
 */
export interface DecoderLimits {
  readonly maxChunkSize?: number | undefined
  readonly maxMessageSize?: number | undefined
  readonly maxChunkStreams?: number | undefined
  readonly maxBufferedBytes?: number | undefined
}

/**
 * The default {@link DecoderLimits}.
 *
 * @since 0.1.0
 */
export const defaultLimits: Required<{ readonly [K in keyof DecoderLimits]: number }> = {
  maxChunkSize: 16 * 1024 * 1024,
  maxMessageSize: 0xffffff,
  maxChunkStreams: 64,
  maxBufferedBytes: 64 * 1024 * 1024
}

/**
 * A chunk decoder for one connection, fed the bytes after the handshake.
 *
 * @since 0.1.0
 */
export interface ChunkDecoder {
  /**
   * Adds received bytes and returns the messages they complete, in the order their last chunk arrived
   * (possibly none). Fails with `ProtocolError` on malformed chunks or exceeded limits; the messages the
   * same push completed before the fault are then not returned (push smaller pieces to keep them).
   *
   * A payload may be a view into the pushed bytes (when a whole message arrived in one piece): do not reuse
   * a pushed buffer while its messages are in use.
   */
  readonly push: (bytes: Uint8Array) => Result.Result<ReadonlyArray<DecodedMessage>, ProtocolError>
  /** The incoming chunk size currently in force (128 until the peer sends Set Chunk Size). */
  readonly chunkSize: number
  /**
   * The bytes the decoder holds between pushes: the buffers of incomplete messages and the start of a chunk
   * header still waiting for its end (at most 17 bytes). For tests and monitoring; it never exceeds
   * `maxBufferedBytes` + 17.
   */
  readonly bufferedBytes: number
}

/** The state of one incoming chunk stream: its last header and its incomplete message, if any. */
interface ChunkStreamState {
  readonly id: number
  streamId: number
  typeId: number
  length: number
  /** Absolute timestamp of the last message, modulo 2^32. */
  timestamp: number
  /** The last timestamp field (absolute after fmt 0, delta after fmt 1/2), extended value when extended. */
  timestampField: number
  /** The last fmt 0/1/2 header had an extended timestamp. */
  extended: boolean
  /** A message is being reassembled. */
  inProgress: boolean
  received: number
  buffer: Uint8Array | undefined
  /** What this message counts against `maxBufferedBytes`: its buffer's capacity at the end of the chunk. */
  charged: number
}

const INITIAL_BUFFER = 64 * 1024
const MAX_HEADER = 3 + 11 + 4

/**
 * The buffer capacity of a message of `length` bytes once `received` of them have arrived: the message
 * length, or a power of two from 64 KiB. A function of the two numbers only, so that the memory charged for a
 * message does not depend on how its bytes were split into reads.
 */
const capacityFor = (received: number, length: number): number => {
  if (received >= length) return length
  let capacity = INITIAL_BUFFER
  while (capacity < received) capacity *= 2
  return capacity < length ? capacity : length
}

/**
 * Creates a decoder for a new connection (incoming chunk size 128).
 *
 * @since 0.1.0
 */
export const make = (limits?: DecoderLimits): ChunkDecoder => {
  const maxChunkSize = limits?.maxChunkSize ?? defaultLimits.maxChunkSize
  const maxMessageSize = limits?.maxMessageSize ?? defaultLimits.maxMessageSize
  const maxChunkStreams = limits?.maxChunkStreams ?? defaultLimits.maxChunkStreams
  const maxBufferedBytes = limits?.maxBufferedBytes ?? defaultLimits.maxBufferedBytes

  let chunkSize = 128
  let failed: ProtocolError | undefined
  const states = new Map<number, ChunkStreamState>()
  /** The chunk stream whose chunk payload is being read, with the bytes left in that chunk. */
  let current: ChunkStreamState | undefined
  let chunkRemaining = 0
  /** What the incomplete messages are charged against maxBufferedBytes (see `ChunkStreamState.charged`). */
  let buffered = 0

  // Input queue: received pieces, consumed from the front without concatenation.
  let pieces: Array<Uint8Array> = []
  let head = 0
  let headOffset = 0
  let available = 0
  const scratch = new Uint8Array(MAX_HEADER)

  /** Copies the next n (at most MAX_HEADER) bytes into `scratch` without consuming them. */
  const peek = (n: number): void => {
    let i = head
    let piece = pieces[i]!
    let offset = headOffset
    for (let done = 0; done < n; done++) {
      while (offset === piece.length) {
        piece = pieces[++i]!
        offset = 0
      }
      scratch[done] = piece[offset++]!
    }
  }

  const advance = (n: number): void => {
    available -= n
    while (n > 0) {
      const left = pieces[head]!.length - headOffset
      if (n < left) {
        headOffset += n
        return
      }
      n -= left
      head++
      headOffset = 0
    }
    if (head === pieces.length) {
      pieces = []
      head = 0
    } else if (head > 64) {
      pieces = pieces.slice(head)
      head = 0
    }
  }

  const copyOut = (dst: Uint8Array, dstOffset: number, n: number): void => {
    let done = 0
    let i = head
    let offset = headOffset
    while (done < n) {
      const piece = pieces[i]!
      const take = Math.min(piece.length - offset, n - done)
      dst.set(offset === 0 && take === piece.length ? piece : piece.subarray(offset, offset + take), dstOffset + done)
      done += take
      i++
      offset = 0
    }
    advance(n)
  }

  /** The next n bytes without copying, when they are all in the first piece. */
  const contiguous = (n: number): Uint8Array | undefined => {
    const piece = pieces[head]
    if (piece === undefined || piece.length - headOffset < n) return undefined
    const out = piece.subarray(headOffset, headOffset + n)
    advance(n)
    return out
  }

  const fail = (reason: string): Result.Result<never, ProtocolError> => {
    failed = new ProtocolError({ reason })
    pieces = []
    head = 0
    headOffset = 0
    available = 0
    states.clear()
    current = undefined
    return Result.fail(failed)
  }

  const releaseBuffer = (state: ChunkStreamState): void => {
    buffered -= state.charged
    state.charged = 0
    state.buffer = undefined
    state.received = 0
    state.inProgress = false
  }

  /** Emits a completed message and applies Set Chunk Size / Abort. Returns a failure reason or undefined. */
  const complete = (state: ChunkStreamState, payload: Uint8Array, out: Array<DecodedMessage>): string | undefined => {
    releaseBuffer(state)
    out.push({
      typeId: state.typeId,
      streamId: state.streamId,
      timestamp: state.timestamp,
      chunkStreamId: state.id,
      payload
    })
    if (state.typeId === MessageType.SetChunkSize) {
      if (payload.length < 4) return `Set Chunk Size message of ${payload.length} bytes (4 expected)`
      const size = readUint32(payload, 0)
      if (size < 1 || size > maxChunkSize) {
        return `Set Chunk Size ${size} is outside the accepted range 1..${maxChunkSize}`
      }
      chunkSize = size
    } else if (state.typeId === MessageType.Abort) {
      if (payload.length < 4) return `Abort message of ${payload.length} bytes (4 expected)`
      const aborted = states.get(readUint32(payload, 0))
      if (aborted !== undefined) releaseBuffer(aborted)
    }
    return undefined
  }

  const push = (bytes: Uint8Array): Result.Result<ReadonlyArray<DecodedMessage>, ProtocolError> => {
    if (failed !== undefined) return Result.fail(failed)
    if (bytes.length > 0) {
      pieces.push(bytes)
      available += bytes.length
    }
    const out: Array<DecodedMessage> = []
    for (;;) {
      // Inside a chunk's payload: copy what has arrived.
      if (current !== undefined) {
        const state = current
        const n = available < chunkRemaining ? available : chunkRemaining
        if (n === 0) break
        const needed = state.received + n
        let buffer = state.buffer
        if (buffer === undefined || buffer.length < needed) {
          // At most state.charged, already checked against maxBufferedBytes when the chunk header was read.
          const grown = new Uint8Array(capacityFor(needed, state.length))
          if (buffer !== undefined) grown.set(buffer.subarray(0, state.received))
          buffer = grown
          state.buffer = grown
        }
        copyOut(buffer, state.received, n)
        state.received = needed
        chunkRemaining -= n
        if (chunkRemaining > 0) break
        current = undefined
        if (state.received === state.length) {
          const error = complete(state, buffer, out)
          if (error !== undefined) return fail(error)
        }
        continue
      }

      // A chunk header: basic header, message header, extended timestamp.
      if (available === 0) break
      const h = available < MAX_HEADER ? available : MAX_HEADER
      peek(h)
      const fmt = scratch[0]! >>> 6
      const low = scratch[0]! & 0x3f
      const basicSize = low === 0 ? 2 : low === 1 ? 3 : 1
      if (h < basicSize) break
      const csid = low === 0 ? 64 + scratch[1]! : low === 1 ? 64 + scratch[1]! + scratch[2]! * 256 : low
      let headerSize = basicSize + MESSAGE_HEADER_SIZE[fmt]!
      if (h < headerSize) break

      let state = states.get(csid)
      if (state === undefined && fmt !== 0) {
        return fail(`chunk stream ${csid} starts with a fmt ${fmt} header instead of fmt 0`)
      }
      if (state !== undefined && state.inProgress && fmt !== 3) {
        return fail(`fmt ${fmt} header on chunk stream ${csid} while its message is incomplete`)
      }

      let field = 0
      let extended = false
      if (fmt <= 2) {
        field = readUint24(scratch, basicSize)
        if (field === EXTENDED_TIMESTAMP) {
          if (h < headerSize + 4) break
          field = readUint32(scratch, headerSize)
          headerSize += 4
          extended = true
        }
      } else if (state!.extended) {
        if (h < headerSize + 4) break
        if (readUint32(scratch, headerSize) === state!.timestampField) headerSize += 4
      }

      if (state === undefined) {
        if (states.size >= maxChunkStreams) {
          return fail(`the peer uses more than ${maxChunkStreams} chunk streams`)
        }
        state = {
          id: csid,
          streamId: 0,
          typeId: 0,
          length: 0,
          timestamp: 0,
          timestampField: 0,
          extended: false,
          inProgress: false,
          received: 0,
          buffer: undefined,
          charged: 0
        }
        states.set(csid, state)
      }

      if (!state.inProgress) {
        // A new message.
        const m = basicSize
        let length = state.length
        if (fmt <= 1) {
          length = readUint24(scratch, m + 3)
          if (length > maxMessageSize) {
            return fail(`message of ${length} bytes on chunk stream ${csid} is over the limit of ${maxMessageSize}`)
          }
          state.length = length
          state.typeId = scratch[m + 6]!
        }
        if (fmt === 0) {
          state.streamId = readUint32LE(scratch, m + 7)
          state.timestamp = field
        } else if (fmt <= 2) {
          state.timestamp = (state.timestamp + field) % TWO_POW_32
        } else {
          state.timestamp = (state.timestamp + state.timestampField) % TWO_POW_32
        }
        if (fmt <= 2) {
          state.timestampField = field
          state.extended = extended
        }
        advance(headerSize)
        if (length === 0) {
          const error = complete(state, new Uint8Array(0), out)
          if (error !== undefined) return fail(error)
          continue
        }
        state.inProgress = true
        state.received = 0
      } else {
        // The next chunk of the message in progress.
        advance(headerSize)
      }
      const left = state.length - state.received
      const chunk = left < chunkSize ? left : chunkSize
      // Charge the buffer this message will need at the end of the chunk, before any of it is allocated (also
      // when the message then arrives whole and needs none: the outcome must not depend on the reads' split).
      const charge = capacityFor(state.received + chunk, state.length)
      if (charge > state.charged) {
        buffered += charge - state.charged
        state.charged = charge
        if (buffered > maxBufferedBytes) {
          return fail(`incomplete messages hold more than ${maxBufferedBytes} bytes`)
        }
      }
      if (chunk === state.length) {
        // A message in one chunk that arrived whole: hand out a view of it, no copy.
        const whole = contiguous(chunk)
        if (whole !== undefined) {
          const error = complete(state, whole, out)
          if (error !== undefined) return fail(error)
          continue
        }
      }
      current = state
      chunkRemaining = chunk
    }
    // What is left is the start of a chunk header (fewer than MAX_HEADER bytes): keep a copy rather than a
    // reference into the caller's (possibly large) buffer.
    if (available > 0) {
      peek(available)
      pieces = [scratch.slice(0, available)]
      head = 0
      headOffset = 0
    }
    return Result.succeed(out)
  }

  const bufferedBytes = (): number => {
    let held = available
    for (const state of states.values()) if (state.buffer !== undefined) held += state.buffer.length
    return held
  }

  return {
    push,
    get chunkSize() {
      return chunkSize
    },
    get bufferedBytes() {
      return bufferedBytes()
    }
  }
}

/**
 * Decodes a stream of received bytes (a connection's `reads`, after the handshake) into messages. The
 * stream ends when the bytes end; a partial message left at that point is dropped. Fails with
 * `ProtocolError` as {@link make}'s `push` does.
 *
 * @since 0.1.0
 */
export const decode = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  limits?: DecoderLimits
): Stream.Stream<DecodedMessage, E | ProtocolError, R> =>
  Stream.transformPull(bytes, (pull) =>
    Effect.sync(() => {
      const decoder = make(limits)
      // A failure met after some messages of a batch were decoded is reported on the next pull, so that the
      // messages before it are not lost.
      let pending: ProtocolError | undefined
      const loop: Pull.Pull<Arr.NonEmptyReadonlyArray<DecodedMessage>, E | ProtocolError, void> = Effect.suspend(
        () => {
          if (pending !== undefined) return Effect.fail(pending)
          return Effect.flatMap(
            pull,
            (pieces): Pull.Pull<Arr.NonEmptyReadonlyArray<DecodedMessage>, E | ProtocolError, void> => {
              const messages: Array<DecodedMessage> = []
              for (const piece of pieces) {
                const result = decoder.push(piece)
                if (Result.isFailure(result)) {
                  if (!Arr.isArrayNonEmpty(messages)) return Effect.fail(result.failure)
                  pending = result.failure
                  return Effect.succeed(messages)
                }
                for (const message of result.success) messages.push(message)
              }
              return Arr.isArrayNonEmpty(messages) ? Effect.succeed(messages) : loop
            }
          )
        }
      )
      return loop
    }))
