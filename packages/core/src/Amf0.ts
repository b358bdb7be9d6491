/**
 * AMF0 (Action Message Format 0), the encoding of RTMP command messages (type 20) and data messages
 * (type 18, for example `@setDataFrame`/`onMetaData`).
 *
 * Values map to JavaScript as follows:
 *
 * | AMF0 marker               | JavaScript                                 |
 * | ------------------------- | ------------------------------------------ |
 * | number (0x00)             | `number` (NaN and -0 kept)                 |
 * | boolean (0x01)            | `boolean`                                  |
 * | string (0x02), long string (0x0C), XML document (0x0F) | `string`      |
 * | object (0x03), typed object (0x10) | {@link Amf0Object} (the class name of a typed object is dropped) |
 * | null (0x05)               | `null`                                     |
 * | undefined (0x06), unsupported (0x0D) | `undefined`                     |
 * | ECMA array (0x08)         | {@link Amf0EcmaArray}                      |
 * | strict array (0x0A)       | `ReadonlyArray<Amf0Value>`                 |
 * | date (0x0B)               | `Date` (the time zone field is written 0 and ignored) |
 *
 * Reference (0x07), movie clip (0x04), record set (0x0E) and AVM+ (0x11, the switch to AMF3) are not
 * supported: decoding them fails with `ProtocolError`.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import { ProtocolError } from "./RtmpError.ts"

/**
 * Any AMF0 value.
 *
 * @since 0.1.0
 */
export type Amf0Value =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | Amf0Object
  | Amf0EcmaArray
  | ReadonlyArray<Amf0Value>

/**
 * An AMF0 anonymous object (marker 0x03): string keys, written in the object's key order. Note that
 * JavaScript iterates integer-like keys (`"1"`) first, whatever order they were added in.
 *
 * @since 0.1.0
 */
export interface Amf0Object {
  readonly [key: string]: Amf0Value
}

/**
 * An AMF0 ECMA array (marker 0x08): an associative array with a count, used by `onMetaData`. Wrap a record
 * in it when the peer expects an ECMA array rather than an object.
 *
 * @since 0.1.0
 */
export class Amf0EcmaArray {
  readonly entries: Readonly<Record<string, Amf0Value>>
  constructor(entries: Readonly<Record<string, Amf0Value>>) {
    this.entries = entries
  }
}

/**
 * AMF0 type markers.
 *
 * @since 0.1.0
 */
export const Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e,
  XmlDocument: 0x0f,
  TypedObject: 0x10,
  AvmPlus: 0x11
} as const

/**
 * Whether a value is an AMF0 object (not null, an array, a Date or an ECMA array). Use it to read command
 * objects such as the info object of `onStatus`.
 *
 * @since 0.1.0
 */
export const isObject = (value: Amf0Value): value is Amf0Object =>
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date) &&
  !(value instanceof Amf0EcmaArray)

// ---------------------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------------------

const textEncoder = new TextEncoder()

interface Writer {
  buf: Uint8Array
  view: DataView
  pos: number
}

const ensure = (w: Writer, n: number): void => {
  const need = w.pos + n
  if (need <= w.buf.length) return
  let size = w.buf.length * 2
  while (size < need) size *= 2
  const next = new Uint8Array(size)
  next.set(w.buf.subarray(0, w.pos))
  w.buf = next
  w.view = new DataView(next.buffer)
}

const writeU8 = (w: Writer, v: number): void => {
  ensure(w, 1)
  w.buf[w.pos++] = v
}

const writeBytes = (w: Writer, bytes: Uint8Array): void => {
  ensure(w, bytes.length)
  w.buf.set(bytes, w.pos)
  w.pos += bytes.length
}

const writeDouble = (w: Writer, v: number): void => {
  ensure(w, 8)
  w.view.setFloat64(w.pos, v)
  w.pos += 8
}

const writeU32 = (w: Writer, v: number): void => {
  ensure(w, 4)
  w.view.setUint32(w.pos, v)
  w.pos += 4
}

/** A UTF-8 string with a 16-bit length (object keys, short strings). */
const writeShortUtf8 = (w: Writer, bytes: Uint8Array): void => {
  if (bytes.length > 0xffff) {
    throw new RangeError(`AMF0: an object key of ${bytes.length} bytes is longer than 65535 bytes`)
  }
  ensure(w, 2 + bytes.length)
  w.view.setUint16(w.pos, bytes.length)
  w.pos += 2
  w.buf.set(bytes, w.pos)
  w.pos += bytes.length
}

const writeProperties = (w: Writer, record: Readonly<Record<string, Amf0Value>>): void => {
  for (const key of Object.keys(record)) {
    writeShortUtf8(w, textEncoder.encode(key))
    writeValue(w, record[key])
  }
  ensure(w, 3)
  w.buf[w.pos++] = 0
  w.buf[w.pos++] = 0
  w.buf[w.pos++] = Marker.ObjectEnd
}

const writeValue = (w: Writer, value: Amf0Value): void => {
  switch (typeof value) {
    case "number":
      writeU8(w, Marker.Number)
      writeDouble(w, value)
      return
    case "boolean":
      ensure(w, 2)
      w.buf[w.pos++] = Marker.Boolean
      w.buf[w.pos++] = value ? 1 : 0
      return
    case "string": {
      const bytes = textEncoder.encode(value)
      if (bytes.length > 0xffff) {
        writeU8(w, Marker.LongString)
        writeU32(w, bytes.length)
        writeBytes(w, bytes)
      } else {
        writeU8(w, Marker.String)
        writeShortUtf8(w, bytes)
      }
      return
    }
    case "undefined":
      writeU8(w, Marker.Undefined)
      return
  }
  if (value === null) {
    writeU8(w, Marker.Null)
  } else if (value instanceof Date) {
    writeU8(w, Marker.Date)
    writeDouble(w, value.getTime())
    ensure(w, 2)
    w.view.setInt16(w.pos, 0)
    w.pos += 2
  } else if (value instanceof Amf0EcmaArray) {
    writeU8(w, Marker.EcmaArray)
    writeU32(w, Object.keys(value.entries).length)
    writeProperties(w, value.entries)
  } else if (Array.isArray(value)) {
    const array = value as ReadonlyArray<Amf0Value>
    writeU8(w, Marker.StrictArray)
    writeU32(w, array.length)
    for (let i = 0; i < array.length; i++) writeValue(w, array[i])
  } else {
    writeU8(w, Marker.Object)
    writeProperties(w, value as Amf0Object)
  }
}

/**
 * Encodes values one after the other, as in the body of an AMF0 command or data message
 * (`["connect", 1, { app, ... }]`). Strings longer than 65535 UTF-8 bytes are written as long strings.
 *
 * Throws a `RangeError` only for an object key longer than 65535 UTF-8 bytes, which AMF0 cannot express.
 *
 * @since 0.1.0
 */
export const encode = (values: ReadonlyArray<Amf0Value>): Uint8Array => {
  const buf = new Uint8Array(256)
  const w: Writer = { buf, view: new DataView(buf.buffer), pos: 0 }
  for (let i = 0; i < values.length; i++) writeValue(w, values[i])
  return w.buf.subarray(0, w.pos)
}

// ---------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------

/**
 * Options of {@link decode}. `maxDepth` bounds the nesting of objects and arrays (default 64). Decoding
 * recurses once per level: with a `maxDepth` in the thousands, deep input can exhaust the stack first, which
 * still gives a `ProtocolError`, never a throw.
 *
 * @since 0.1.0
 */
export interface DecodeOptions {
  readonly maxDepth?: number | undefined
}

const textDecoder = new TextDecoder("utf-8")

class Failure {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

interface Reader {
  readonly bytes: Uint8Array
  readonly view: DataView
  pos: number
  readonly maxDepth: number
}

const need = (r: Reader, n: number, what: string): void => {
  if (r.pos + n > r.bytes.length) {
    throw new Failure(`AMF0 ${what} truncated at byte ${r.pos}: ${n} bytes needed, ${r.bytes.length - r.pos} left`)
  }
}

const readUtf8 = (r: Reader, length: number, what: string): string => {
  need(r, length, what)
  const s = textDecoder.decode(r.bytes.subarray(r.pos, r.pos + length))
  r.pos += length
  return s
}

const readShortString = (r: Reader, what: string): string => {
  need(r, 2, what)
  const length = r.view.getUint16(r.pos)
  r.pos += 2
  return readUtf8(r, length, what)
}

const setProperty = (target: Record<string, Amf0Value>, key: string, value: Amf0Value): void => {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

/** Reads key/value pairs up to the empty key followed by the object end marker. */
const readProperties = (r: Reader, depth: number, what: string): Record<string, Amf0Value> => {
  const out: Record<string, Amf0Value> = {}
  for (;;) {
    const key = readShortString(r, `${what} key`)
    need(r, 1, what)
    if (key === "" && r.bytes[r.pos] === Marker.ObjectEnd) {
      r.pos++
      return out
    }
    setProperty(out, key, readValue(r, depth))
  }
}

const readValue = (r: Reader, depth: number): Amf0Value => {
  need(r, 1, "value marker")
  const at = r.pos
  const marker = r.bytes[r.pos++]!
  switch (marker) {
    case Marker.Number: {
      need(r, 8, "number")
      const v = r.view.getFloat64(r.pos)
      r.pos += 8
      return v
    }
    case Marker.Boolean: {
      need(r, 1, "boolean")
      return r.bytes[r.pos++] !== 0
    }
    case Marker.String:
      return readShortString(r, "string")
    case Marker.LongString:
    case Marker.XmlDocument: {
      need(r, 4, "long string")
      const length = r.view.getUint32(r.pos)
      r.pos += 4
      return readUtf8(r, length, "long string")
    }
    case Marker.Null:
      return null
    case Marker.Undefined:
    case Marker.Unsupported:
      return undefined
    case Marker.Object:
    case Marker.TypedObject:
    case Marker.EcmaArray:
    case Marker.StrictArray: {
      if (depth >= r.maxDepth) {
        throw new Failure(`AMF0 value nested deeper than ${r.maxDepth} levels at byte ${at}`)
      }
      if (marker === Marker.Object) return readProperties(r, depth + 1, "object")
      if (marker === Marker.TypedObject) {
        readShortString(r, "typed object class name")
        return readProperties(r, depth + 1, "typed object")
      }
      need(r, 4, "array count")
      const count = r.view.getUint32(r.pos)
      r.pos += 4
      if (marker === Marker.EcmaArray) return new Amf0EcmaArray(readProperties(r, depth + 1, "ECMA array"))
      // Every element takes at least one byte: a count above what is left is a truncation, and checking it
      // first keeps a forged count from driving a huge loop.
      need(r, count, "strict array")
      const out: Array<Amf0Value> = []
      for (let i = 0; i < count; i++) out.push(readValue(r, depth + 1))
      return out
    }
    case Marker.Date: {
      need(r, 10, "date")
      const ms = r.view.getFloat64(r.pos)
      r.pos += 10
      return new Date(ms)
    }
    case Marker.ObjectEnd:
      throw new Failure(`AMF0 object end marker outside an object at byte ${at}`)
    case Marker.Reference:
      throw new Failure(`AMF0 references (marker 0x07) are not supported (at byte ${at})`)
    case Marker.AvmPlus:
      throw new Failure(`AMF3 values (AVM+ marker 0x11) are not supported (at byte ${at})`)
    default:
      throw new Failure(`unknown AMF0 marker 0x${marker.toString(16).padStart(2, "0")} at byte ${at}`)
  }
}

/**
 * Decodes all the values of an AMF0 body (a command or data message payload). Synchronous and total: a
 * truncated body, an unknown or unsupported marker, or nesting deeper than `maxDepth` (default 64) gives a
 * `ProtocolError`; it never throws.
 *
 * @since 0.1.0
 */
export const decode = (
  bytes: Uint8Array,
  options?: DecodeOptions
): Result.Result<ReadonlyArray<Amf0Value>, ProtocolError> => {
  const r: Reader = {
    bytes,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    pos: 0,
    maxDepth: options?.maxDepth ?? 64
  }
  const values: Array<Amf0Value> = []
  try {
    while (r.pos < bytes.length) values.push(readValue(r, 0))
  } catch (e) {
    return Result.fail(
      new ProtocolError({ reason: e instanceof Failure ? e.reason : `AMF0 decoding failed: ${String(e)}` })
    )
  }
  return Result.succeed(values)
}
