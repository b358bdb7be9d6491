/**
 * RTMP messages: what the chunk layer carries, in the spec's words (message type id, message stream id,
 * timestamp, payload).
 *
 * @since 0.1.0
 */

/**
 * Message type ids (RTMP spec 5.4 and 7.1).
 *
 * @since 0.1.0
 */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22
} as const

/**
 * One RTMP message. `payload` may be given as several pieces (header bytes beside a media payload
 * slice) so that nothing is copied to frame it; the message length is the sum of the pieces.
 * `timestamp` is in milliseconds, any non-negative integer; the chunk layer writes it modulo 2^32.
 *
 * @since 0.1.0
 */
export interface RtmpMessage {
  readonly typeId: number
  readonly streamId: number
  readonly timestamp: number
  readonly payload: Uint8Array | ReadonlyArray<Uint8Array>
  /** Chunk stream id to send it on; the encoder picks one per message type when absent. */
  readonly chunkStreamId?: number | undefined
}

/**
 * A message as decoded from the server: the payload is one contiguous buffer.
 *
 * @since 0.1.0
 */
export interface DecodedMessage {
  readonly typeId: number
  readonly streamId: number
  readonly timestamp: number
  readonly chunkStreamId: number
  readonly payload: Uint8Array
}

/**
 * Total payload length of a message.
 *
 * @since 0.1.0
 */
export const payloadLength = (payload: RtmpMessage["payload"]): number => {
  if (payload instanceof Uint8Array) return payload.length
  let n = 0
  for (const piece of payload) n += piece.length
  return n
}
