/**
 * Protocol control messages (RTMP spec 5.4: Set Chunk Size, Abort, Acknowledgement, Window Acknowledgement
 * Size, Set Peer Bandwidth) and User Control messages (spec 6.2 / 7.1.7: Stream Begin, Ping Request,
 * Set Buffer Length, ...): builders for what the client sends, parsers for what the server sends.
 *
 * Every builder returns a message on message stream 0 and chunk stream 2, timestamp 0, as the spec requires.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import type { RtmpMessage } from "./Message.ts"
import { MessageType } from "./Message.ts"
import { ProtocolError } from "./RtmpError.ts"

const CONTROL_CHUNK_STREAM_ID = 2

const control = (typeId: number, payload: Uint8Array): RtmpMessage => ({
  typeId,
  streamId: 0,
  timestamp: 0,
  payload,
  chunkStreamId: CONTROL_CHUNK_STREAM_ID
})

const uint32 = (value: number): Uint8Array => {
  const bytes = new Uint8Array(4)
  new DataView(bytes.buffer).setUint32(0, value >>> 0)
  return bytes
}

/**
 * Set Chunk Size (type 1): tells the server the largest chunk this side will send from now on. Encode it
 * with the old chunk size, then call `ChunkEncoder.setChunkSize`. `size` is 1..2^31-1.
 *
 * @since 0.1.0
 */
export const setChunkSize = (size: number): RtmpMessage => {
  if (!Number.isInteger(size) || size < 1 || size > 0x7fffffff) {
    throw new RangeError(`chunk size must be an integer in 1..2147483647, got ${size}`)
  }
  return control(MessageType.SetChunkSize, uint32(size))
}

/**
 * Abort (type 2): tells the peer to discard the partly sent message on a chunk stream.
 *
 * @since 0.1.0
 */
export const abort = (chunkStreamId: number): RtmpMessage => control(MessageType.Abort, uint32(chunkStreamId))

/**
 * Acknowledgement (type 3): reports the number of bytes received so far (modulo 2^32), sent each time the
 * received bytes pass another window acknowledgement size.
 *
 * @since 0.1.0
 */
export const acknowledgement = (sequenceNumber: number): RtmpMessage =>
  control(MessageType.Acknowledgement, uint32(sequenceNumber % 4294967296))

/**
 * Window Acknowledgement Size (type 5): how many bytes this side may receive before the peer must send an
 * Acknowledgement.
 *
 * @since 0.1.0
 */
export const windowAckSize = (size: number): RtmpMessage => control(MessageType.WindowAckSize, uint32(size))

/**
 * The limit type of Set Peer Bandwidth: 0 hard, 1 soft, 2 dynamic.
 *
 * @since 0.1.0
 */
export const BandwidthLimitType = { Hard: 0, Soft: 1, Dynamic: 2 } as const

/**
 * Set Peer Bandwidth (type 6): limits the peer's output bandwidth (a window size and a limit type).
 * Servers send it; a client rarely does.
 *
 * @since 0.1.0
 */
export const setPeerBandwidth = (size: number, limitType: number): RtmpMessage => {
  const bytes = new Uint8Array(5)
  new DataView(bytes.buffer).setUint32(0, size >>> 0)
  bytes[4] = limitType
  return control(MessageType.SetPeerBandwidth, bytes)
}

/**
 * User Control event types (RTMP spec 7.1.7, plus the widely used buffer events).
 *
 * @since 0.1.0
 */
export const UserControlEventType = {
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
  BufferEmpty: 31,
  BufferReady: 32
} as const

const userControl = (eventType: number, data: ReadonlyArray<number>): RtmpMessage => {
  const bytes = new Uint8Array(2 + 4 * data.length)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, eventType)
  data.forEach((value, i) => view.setUint32(2 + 4 * i, value >>> 0))
  return control(MessageType.UserControl, bytes)
}

/**
 * Ping Response (User Control event 7): the answer to the server's Ping Request, echoing its timestamp.
 * Servers drop clients that do not answer.
 *
 * @since 0.1.0
 */
export const pingResponse = (timestamp: number): RtmpMessage =>
  userControl(UserControlEventType.PingResponse, [timestamp % 4294967296])

/**
 * Ping Request (User Control event 6): asks the peer for a Ping Response. For tests and keep-alive.
 *
 * @since 0.1.0
 */
export const pingRequest = (timestamp: number): RtmpMessage =>
  userControl(UserControlEventType.PingRequest, [timestamp % 4294967296])

/**
 * Set Buffer Length (User Control event 3): the client's buffer length in milliseconds for a message stream.
 *
 * @since 0.1.0
 */
export const setBufferLength = (streamId: number, ms: number): RtmpMessage =>
  userControl(UserControlEventType.SetBufferLength, [streamId, ms])

/**
 * Stream Begin (User Control event 0): a stream became functional. Servers send it; for tests.
 *
 * @since 0.1.0
 */
export const streamBegin = (streamId: number): RtmpMessage =>
  userControl(UserControlEventType.StreamBegin, [streamId])

/**
 * A parsed User Control event.
 *
 * @since 0.1.0
 */
export type UserControlEvent =
  | { readonly _tag: "StreamBegin"; readonly streamId: number }
  | { readonly _tag: "StreamEof"; readonly streamId: number }
  | { readonly _tag: "StreamDry"; readonly streamId: number }
  | { readonly _tag: "SetBufferLength"; readonly streamId: number; readonly bufferLength: number }
  | { readonly _tag: "StreamIsRecorded"; readonly streamId: number }
  | { readonly _tag: "PingRequest"; readonly timestamp: number }
  | { readonly _tag: "PingResponse"; readonly timestamp: number }
  | { readonly _tag: "BufferEmpty"; readonly streamId: number }
  | { readonly _tag: "BufferReady"; readonly streamId: number }
  | { readonly _tag: "Unknown"; readonly eventType: number; readonly data: Uint8Array }

const truncated = (what: string, expected: number, actual: number) =>
  Result.fail(new ProtocolError({ reason: `${what} of ${actual} bytes (${expected} expected)` }))

/**
 * Parses the payload of a User Control message (type 4). Unknown event types are returned as `Unknown`
 * (with their data) so that the session can ignore them; a payload too short for its event type is a
 * `ProtocolError`.
 *
 * @since 0.1.0
 */
export const parseUserControl = (payload: Uint8Array): Result.Result<UserControlEvent, ProtocolError> => {
  if (payload.length < 2) return truncated("User Control message", 2, payload.length)
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  const eventType = view.getUint16(0)
  const need = (n: number) => payload.length >= 2 + n
  const u32 = (at: number) => view.getUint32(2 + at)
  switch (eventType) {
    case UserControlEventType.StreamBegin:
    case UserControlEventType.StreamEof:
    case UserControlEventType.StreamDry:
    case UserControlEventType.StreamIsRecorded:
    case UserControlEventType.BufferEmpty:
    case UserControlEventType.BufferReady: {
      if (!need(4)) return truncated(`User Control event ${eventType}`, 6, payload.length)
      const tag = eventType === UserControlEventType.StreamBegin
        ? "StreamBegin"
        : eventType === UserControlEventType.StreamEof
        ? "StreamEof"
        : eventType === UserControlEventType.StreamDry
        ? "StreamDry"
        : eventType === UserControlEventType.StreamIsRecorded
        ? "StreamIsRecorded"
        : eventType === UserControlEventType.BufferEmpty
        ? "BufferEmpty"
        : "BufferReady"
      return Result.succeed({ _tag: tag, streamId: u32(0) })
    }
    case UserControlEventType.SetBufferLength:
      if (!need(8)) return truncated("User Control Set Buffer Length", 10, payload.length)
      return Result.succeed({ _tag: "SetBufferLength", streamId: u32(0), bufferLength: u32(4) })
    case UserControlEventType.PingRequest:
    case UserControlEventType.PingResponse:
      if (!need(4)) return truncated(`User Control ping`, 6, payload.length)
      return Result.succeed({
        _tag: eventType === UserControlEventType.PingRequest ? "PingRequest" : "PingResponse",
        timestamp: u32(0)
      })
    default:
      return Result.succeed({ _tag: "Unknown", eventType, data: payload.subarray(2) })
  }
}

/**
 * Reads the 32-bit big-endian value that is the whole body of Set Chunk Size, Abort, Acknowledgement and
 * Window Acknowledgement Size (and the start of Set Peer Bandwidth). A body shorter than 4 bytes is a
 * `ProtocolError`.
 *
 * @since 0.1.0
 */
export const readUint32 = (payload: Uint8Array): Result.Result<number, ProtocolError> => {
  if (payload.length < 4) return truncated("protocol control message", 4, payload.length)
  return Result.succeed(
    ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0
  )
}

/**
 * Parses a Set Peer Bandwidth body (type 6): the window size and the limit type (0 hard, 1 soft, 2 dynamic).
 * A missing limit type byte is read as dynamic.
 *
 * @since 0.1.0
 */
export const parseSetPeerBandwidth = (
  payload: Uint8Array
): Result.Result<{ readonly size: number; readonly limitType: number }, ProtocolError> =>
  Result.map(readUint32(payload), (size) => ({
    size,
    limitType: payload.length >= 5 ? payload[4]! : BandwidthLimitType.Dynamic
  }))
