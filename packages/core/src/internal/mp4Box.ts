/**
 * ISO Base Media File Format (ISO/IEC 14496-12) boxes: reading box headers and the big-endian fields of a
 * box held in memory, with bounds checks. Errors are thrown as `Mp4Error` (reason + absolute file offset)
 * and turned into `InvalidMedia` by the decoders.
 *
 * @internal
 */

/**
 * A malformed or unsupported MP4 structure, at an absolute byte offset of the input.
 *
 * @internal
 */
export class Mp4Error {
  readonly reason: string
  readonly offset: number
  constructor(reason: string, offset: number) {
    this.reason = reason
    this.offset = offset
  }
}

/**
 * A box header: `size` is the whole box (header included); `size === undefined` for a size-0 box, which
 * extends to the end of the file.
 *
 * @internal
 */
export interface BoxHeader {
  readonly type: string
  readonly size: number | undefined
  readonly headerSize: number
}

/**
 * Box types that can begin an MP4 (ISO BMFF / QuickTime) file. `MediaSource` sniffs by them.
 *
 * @internal
 */
export const leadingBoxTypes: ReadonlySet<string> = new Set([
  "ftyp",
  "styp",
  "moov",
  "moof",
  "mdat",
  "free",
  "skip",
  "wide",
  "pdin",
  "sidx"
])

/** A box type is four bytes; the ones in use are printable ASCII (letters, digits, space, `-`, `.`, `©`). */
const isTypeByte = (b: number): boolean => (b >= 0x20 && b <= 0x7e) || b === 0xa9

/**
 * The four-character code at `at`, as a string (latin1).
 *
 * @internal
 */
export const fourCc = (bytes: Uint8Array, at: number): string =>
  String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!)

/**
 * Parses a box header from `bytes` (at least 8 bytes; 16 when the size is 64-bit, else `undefined` is
 * returned to ask for more). `offset` is the header's absolute position, for errors.
 *
 * @internal
 */
export const parseBoxHeader = (bytes: Uint8Array, offset: number): BoxHeader | undefined => {
  for (let i = 4; i < 8; i++) {
    if (!isTypeByte(bytes[i]!)) {
      throw new Mp4Error(`malformed box header (type bytes ${hex(bytes.subarray(4, 8))})`, offset)
    }
  }
  const type = fourCc(bytes, 4)
  const size32 = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0
  if (size32 === 0) return { type, size: undefined, headerSize: 8 }
  if (size32 === 1) {
    if (bytes.length < 16) return undefined
    const high = ((bytes[8]! << 24) | (bytes[9]! << 16) | (bytes[10]! << 8) | bytes[11]!) >>> 0
    const low = ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0
    const size = high * 0x1_0000_0000 + low
    if (high >= 0x20_0000) throw new Mp4Error(`box "${type}" with a 64-bit size beyond 2^53 bytes`, offset)
    if (size < 16) throw new Mp4Error(`box "${type}" of ${size} bytes, smaller than its 16-byte header`, offset)
    return { type, size, headerSize: 16 }
  }
  if (size32 < 8) throw new Mp4Error(`box "${type}" of ${size32} bytes, smaller than its 8-byte header`, offset)
  return { type, size: size32, headerSize: 8 }
}

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ")

/**
 * A box (or any byte range) held in memory, read with a cursor. `base` is the absolute file offset of
 * `bytes[0]`, so that errors name file positions. Every read is bounds-checked against `end`.
 *
 * @internal
 */
export class BoxReader {
  readonly bytes: Uint8Array
  readonly view: DataView
  readonly base: number
  /** Cursor, an index into `bytes`. */
  pos: number
  /** Exclusive end of the readable range, an index into `bytes`. */
  readonly end: number
  /** The box being read, for errors. */
  readonly type: string

  constructor(bytes: Uint8Array, base: number, type: string, start = 0, end = bytes.length) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.base = base
    this.type = type
    this.pos = start
    this.end = end
  }

  /** Absolute file offset of the cursor. */
  get offset(): number {
    return this.base + this.pos
  }

  get remaining(): number {
    return this.end - this.pos
  }

  fail(reason: string, at = this.pos): never {
    throw new Mp4Error(reason, this.base + at)
  }

  /** Checks that `n` more bytes can be read. */
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.end) {
      this.fail(`"${this.type}" box too short: ${what} needs ${n} bytes, ${this.end - this.pos} left`)
    }
  }

  u8(): number {
    this.need(1, "a field")
    return this.bytes[this.pos++]!
  }

  u16(): number {
    this.need(2, "a field")
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }

  i16(): number {
    this.need(2, "a field")
    const v = this.view.getInt16(this.pos)
    this.pos += 2
    return v
  }

  u24(): number {
    this.need(3, "a field")
    const v = (this.bytes[this.pos]! << 16) | (this.bytes[this.pos + 1]! << 8) | this.bytes[this.pos + 2]!
    this.pos += 3
    return v
  }

  u32(): number {
    this.need(4, "a field")
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  i32(): number {
    this.need(4, "a field")
    const v = this.view.getInt32(this.pos)
    this.pos += 4
    return v
  }

  /** An unsigned 64-bit field; beyond 2^53 it is an error (no file is that large, no timestamp that far). */
  u64(): number {
    this.need(8, "a field")
    const high = this.view.getUint32(this.pos)
    const low = this.view.getUint32(this.pos + 4)
    if (high >= 0x20_0000) this.fail(`"${this.type}" box: a 64-bit value beyond 2^53`)
    this.pos += 8
    return high * 0x1_0000_0000 + low
  }

  /** A signed 64-bit field, within ±2^53. */
  i64(): number {
    this.need(8, "a field")
    const high = this.view.getInt32(this.pos)
    const low = this.view.getUint32(this.pos + 4)
    if (high >= 0x20_0000 || high < -0x20_0000) this.fail(`"${this.type}" box: a 64-bit value beyond ±2^53`)
    this.pos += 8
    return high * 0x1_0000_0000 + low
  }

  fourCc(): string {
    this.need(4, "a four-character code")
    const v = fourCc(this.bytes, this.pos)
    this.pos += 4
    return v
  }

  skip(n: number): void {
    this.need(n, "a field")
    this.pos += n
  }

  /** The next `n` bytes, as a subarray (not a copy). */
  take(n: number): Uint8Array {
    this.need(n, "a field")
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /** A FullBox's version and flags. */
  fullBox(): { readonly version: number; readonly flags: number } {
    const version = this.u8()
    const flags = this.u24()
    return { version, flags }
  }
}

/**
 * A child box inside a box held in memory: its type, its header's position, and a reader over its body.
 *
 * @internal
 */
export interface ChildBox {
  readonly type: string
  /** Index into the parent's `bytes` of the child's header. */
  readonly start: number
  /** The child's body (after the header). */
  readonly body: BoxReader
}

/**
 * The boxes from the parent reader's cursor to its end, in order (the cursor is moved to the end).
 * Fails on a child that overruns its parent. Trailing bytes shorter than a box header are ignored
 * (QuickTime ends some containers with a 32-bit zero); a size-0 child extends to the end of the parent.
 *
 * @internal
 */
export const children = (parent: BoxReader): Array<ChildBox> => {
  const out: Array<ChildBox> = []
  while (parent.end - parent.pos >= 8) {
    const start = parent.pos
    const header = parseBoxHeader(parent.bytes.subarray(start, Math.min(parent.end, start + 16)), parent.base + start)
    if (header === undefined) parent.fail(`"${parent.type}" box: truncated child box header`, start)
    const size = header.size ?? parent.end - start
    if (start + size > parent.end) {
      parent.fail(
        `box "${header.type}" of ${size} bytes overruns its parent "${parent.type}" (${parent.end - start} bytes left)`,
        start
      )
    }
    out.push({
      type: header.type,
      start,
      body: new BoxReader(parent.bytes, parent.base, header.type, start + header.headerSize, start + size)
    })
    parent.pos = start + size
  }
  parent.pos = parent.end
  return out
}

/**
 * The first child of the given type, or `undefined`.
 *
 * @internal
 */
export const child = (boxes: ReadonlyArray<ChildBox>, type: string): ChildBox | undefined =>
  boxes.find((b) => b.type === type)

/**
 * The first child of the given type, or an `Mp4Error` naming the parent.
 *
 * @internal
 */
export const required = (parent: BoxReader, boxes: ReadonlyArray<ChildBox>, type: string): ChildBox => {
  const found = child(boxes, type)
  if (found === undefined) parent.fail(`"${parent.type}" box without its "${type}" box`, parent.end)
  return found
}
