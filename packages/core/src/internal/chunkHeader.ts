/**
 * Chunk header constants and helpers shared by the chunk encoder and decoder (RTMP spec 5.3.1).
 *
 * @internal
 */

/** Chunk stream ids that fit the 1-byte basic header are 2..63, the 2-byte one 64..319, the 3-byte one 320..65599. */
export const MIN_CHUNK_STREAM_ID = 2
export const MAX_CHUNK_STREAM_ID = 65599

/** Sizes of the chunk message header by fmt 0..3. */
export const MESSAGE_HEADER_SIZE: ReadonlyArray<number> = [11, 7, 3, 0]

/** The 3-byte timestamp field value that says "see the extended timestamp". */
export const EXTENDED_TIMESTAMP = 0xffffff

/** The largest message length the 3-byte message length field can carry. */
export const MAX_MESSAGE_LENGTH = 0xffffff

export const TWO_POW_32 = 4294967296

/** Size of the basic header for a chunk stream id. */
export const basicHeaderSize = (csid: number): number => (csid < 64 ? 1 : csid < 320 ? 2 : 3)

/** Writes the basic header at `offset` and returns the offset after it. */
export const writeBasicHeader = (buf: Uint8Array, offset: number, fmt: number, csid: number): number => {
  if (csid < 64) {
    buf[offset] = (fmt << 6) | csid
    return offset + 1
  }
  if (csid < 320) {
    buf[offset] = fmt << 6
    buf[offset + 1] = csid - 64
    return offset + 2
  }
  const id = csid - 64
  buf[offset] = (fmt << 6) | 1
  buf[offset + 1] = id & 0xff
  buf[offset + 2] = id >>> 8
  return offset + 3
}

/** Writes a 24-bit big-endian value. */
export const writeUint24 = (buf: Uint8Array, offset: number, value: number): void => {
  buf[offset] = (value >>> 16) & 0xff
  buf[offset + 1] = (value >>> 8) & 0xff
  buf[offset + 2] = value & 0xff
}

/** Writes a 32-bit big-endian value. */
export const writeUint32 = (buf: Uint8Array, offset: number, value: number): void => {
  buf[offset] = (value >>> 24) & 0xff
  buf[offset + 1] = (value >>> 16) & 0xff
  buf[offset + 2] = (value >>> 8) & 0xff
  buf[offset + 3] = value & 0xff
}

/** Writes a 32-bit little-endian value (the message stream id of a fmt 0 header). */
export const writeUint32LE = (buf: Uint8Array, offset: number, value: number): void => {
  buf[offset] = value & 0xff
  buf[offset + 1] = (value >>> 8) & 0xff
  buf[offset + 2] = (value >>> 16) & 0xff
  buf[offset + 3] = (value >>> 24) & 0xff
}

export const readUint24 = (buf: Uint8Array, offset: number): number =>
  (buf[offset]! << 16) | (buf[offset + 1]! << 8) | buf[offset + 2]!

export const readUint32 = (buf: Uint8Array, offset: number): number =>
  ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0

export const readUint32LE = (buf: Uint8Array, offset: number): number =>
  (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0
