import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Result, Schema } from "effect"
import * as Amf0 from "../src/Amf0.ts"

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"))
const ascii = (text: string): string => Buffer.from(text, "latin1").toString("hex")

const decodeOk = (bytes: Uint8Array): ReadonlyArray<Amf0.Amf0Value> => {
  const result = Amf0.decode(bytes)
  if (Result.isFailure(result)) throw new Error(`decode failed: ${result.failure.reason}`)
  return result.success
}

const decodeError = (bytes: Uint8Array, options?: Amf0.DecodeOptions): string => {
  const result = Amf0.decode(bytes, options)
  if (Result.isSuccess(result)) throw new Error("expected a ProtocolError")
  assert.strictEqual(result.failure._tag, "ProtocolError")
  return result.failure.reason
}

/** Deep equality for AMF0 values: Object.is on numbers (NaN, -0), Dates by time, key order kept. */
const amfEqual = (a: Amf0.Amf0Value, b: Amf0.Amf0Value): boolean => {
  if (typeof a === "number" || typeof b === "number") return Object.is(a, b)
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime())
  }
  if (a instanceof Amf0.Amf0EcmaArray || b instanceof Amf0.Amf0EcmaArray) {
    return a instanceof Amf0.Amf0EcmaArray && b instanceof Amf0.Amf0EcmaArray && recordEqual(a.entries, b.entries)
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    const x = a as ReadonlyArray<Amf0.Amf0Value>
    const y = b as ReadonlyArray<Amf0.Amf0Value>
    return Array.isArray(a) && Array.isArray(b) && x.length === y.length && x.every((v, i) => amfEqual(v, y[i]))
  }
  return recordEqual(a as Amf0.Amf0Object, b as Amf0.Amf0Object)
}

const recordEqual = (a: Readonly<Record<string, Amf0.Amf0Value>>, b: Readonly<Record<string, Amf0.Amf0Value>>) => {
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && amfEqual(a[k], b[k]))
}

// A Schema-described tree, mapped to AMF0 values (the ECMA array is a class, objects need own __proto__ keys).
type Tree =
  | number
  | boolean
  | string
  | null
  | undefined
  | { readonly kind: "object" | "ecma"; readonly entries: ReadonlyArray<readonly [string, Tree]> }
  | { readonly kind: "array"; readonly items: ReadonlyArray<Tree> }
  | { readonly kind: "date"; readonly ms: number }

const Tree: Schema.Codec<Tree> = Schema.Union([
  Schema.Number,
  Schema.Boolean,
  Schema.String,
  Schema.Null,
  Schema.Undefined,
  Schema.Struct({
    kind: Schema.Literals(["object", "ecma"]),
    entries: Schema.Array(Schema.Tuple([Schema.String, Schema.suspend(() => Tree)]))
  }),
  Schema.Struct({ kind: Schema.Literal("array"), items: Schema.Array(Schema.suspend(() => Tree)) }),
  Schema.Struct({ kind: Schema.Literal("date"), ms: Schema.Int })
])

const toAmf0 = (tree: Tree): Amf0.Amf0Value => {
  if (tree === null || typeof tree !== "object") return tree
  switch (tree.kind) {
    case "date":
      return new Date(tree.ms)
    case "array":
      return tree.items.map(toAmf0)
    case "object":
    case "ecma": {
      const record: Record<string, Amf0.Amf0Value> = {}
      for (const [key, value] of tree.entries) {
        Object.defineProperty(record, key, { value: toAmf0(value), enumerable: true, writable: true, configurable: true })
      }
      return tree.kind === "ecma" ? new Amf0.Amf0EcmaArray(record) : record
    }
  }
}

/** What a value becomes after UTF-8: lone surrogates turn into U+FFFD, in strings and keys. */
const utf8 = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s))
const expected = (value: Amf0.Amf0Value): Amf0.Amf0Value => {
  if (typeof value === "string") return utf8(value)
  if (value === null || typeof value !== "object" || value instanceof Date) return value
  if (Array.isArray(value)) return (value as ReadonlyArray<Amf0.Amf0Value>).map(expected)
  const source = value instanceof Amf0.Amf0EcmaArray ? value.entries : value as Amf0.Amf0Object
  const record: Record<string, Amf0.Amf0Value> = {}
  for (const key of Object.keys(source)) {
    Object.defineProperty(record, utf8(key), {
      value: expected(source[key]),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return value instanceof Amf0.Amf0EcmaArray ? new Amf0.Amf0EcmaArray(record) : record
}

const Values = Arbitrary.schema(Schema.Array(Tree)).pipe(Arbitrary.map((trees) => trees.map(toAmf0)))

describe("Amf0", () => {
  it.prop(
    "decode(encode(values)) equals values",
    [Values],
    ([values]) => {
      const decoded = decodeOk(Amf0.encode(values))
      const want = values.map(expected)
      if (!amfEqual(decoded as ReadonlyArray<Amf0.Amf0Value>, want)) {
        throw new Error(`round trip mismatch for ${String(values)}`)
      }
    },
    { arbitrary: { runs: 300, seed: 42, size: 40 } }
  )

  it("encodes a connect command byte for byte", () => {
    const bytes = Amf0.encode([
      "connect",
      1,
      { app: "live", tcUrl: "rtmp://h/live", fpad: false, audioCodecs: 3191 },
      null
    ])
    const want = [
      "02 0007",
      ascii("connect"),
      "00 3ff0000000000000",
      "03",
      "0003",
      ascii("app"),
      "02 0004",
      ascii("live"),
      "0005",
      ascii("tcUrl"),
      "02 000d",
      ascii("rtmp://h/live"),
      "0004",
      ascii("fpad"),
      "01 00",
      "000b",
      ascii("audioCodecs"),
      "00 40a8ee0000000000",
      "000009",
      "05"
    ].join("").replace(/\s+/g, "")
    assert.strictEqual(hex(bytes), want)
    const decoded = decodeOk(bytes)
    assert.deepStrictEqual(decoded, ["connect", 1, { app: "live", tcUrl: "rtmp://h/live", fpad: false, audioCodecs: 3191 }, null])
  })

  it("encodes the other markers byte for byte", () => {
    assert.strictEqual(hex(Amf0.encode([true, undefined])), "010106")
    assert.strictEqual(hex(Amf0.encode([new Date(0)])), "0b00000000000000000000")
    assert.strictEqual(
      hex(Amf0.encode([new Amf0.Amf0EcmaArray({ duration: 0 })])),
      "0800000001" + "0008" + ascii("duration") + "000000000000000000" + "000009"
    )
    assert.strictEqual(hex(Amf0.encode([[1, "a"]])), "0a00000002" + "003ff0000000000000" + "02000161")
    assert.strictEqual(hex(Amf0.encode([""])), "020000")
    assert.strictEqual(hex(Amf0.encode([{}])), "03000009")
  })

  it("writes strings over 65535 UTF-8 bytes as long strings and reads them back", () => {
    const short = "é".repeat(32767) // 65534 bytes
    assert.strictEqual(Amf0.encode([short])[0], Amf0.Marker.String)
    const long = "é".repeat(32768) // 65536 bytes
    const bytes = Amf0.encode([long])
    assert.strictEqual(hex(bytes.subarray(0, 5)), "0c00010000")
    assert.deepStrictEqual(decodeOk(bytes), [long])
  })

  it("keeps NaN, -0 and infinities", () => {
    const decoded = decodeOk(Amf0.encode([NaN, -0, Infinity, -Infinity]))
    assert.isTrue(Number.isNaN(decoded[0]))
    assert.isTrue(Object.is(decoded[1], -0))
    assert.strictEqual(decoded[2], Infinity)
    assert.strictEqual(decoded[3], -Infinity)
  })

  it("reads typed objects, XML documents and unsupported as objects, strings and undefined", () => {
    const typed = fromHex("10 0003" + ascii("Foo") + "0001" + ascii("a") + "0101" + "000009")
    assert.deepStrictEqual(decodeOk(typed), [{ a: true }])
    assert.deepStrictEqual(decodeOk(fromHex("0f 00000002 6869")), ["hi"])
    assert.deepStrictEqual(decodeOk(fromHex("0d")), [undefined])
  })

  it("keeps a __proto__ key as an own property", () => {
    const bytes = fromHex("03 0009" + ascii("__proto__") + "01 01 000009")
    const [value] = decodeOk(bytes)
    assert.isTrue(Object.hasOwn(value as object, "__proto__"))
    assert.strictEqual(Object.getPrototypeOf(value), Object.prototype)
  })

  it("decodes what is sliced from a larger buffer", () => {
    const inner = Amf0.encode(["onStatus", 0, null, { level: "status" }])
    const outer = new Uint8Array(inner.length + 10)
    outer.set(inner, 5)
    assert.deepStrictEqual(decodeOk(outer.subarray(5, 5 + inner.length)), ["onStatus", 0, null, { level: "status" }])
  })

  it("fails with ProtocolError, never throws, on bad input", () => {
    assert.match(decodeError(fromHex("02 0005 6869")), /truncated/)
    assert.match(decodeError(fromHex("00 3ff0")), /truncated/)
    assert.match(decodeError(fromHex("03 0001 61 01 01")), /truncated/)
    assert.match(decodeError(fromHex("13")), /unknown AMF0 marker 0x13/)
    assert.match(decodeError(fromHex("07 0001")), /references/)
    assert.match(decodeError(fromHex("11 02")), /AMF3/)
    assert.match(decodeError(fromHex("09")), /object end/)
    assert.match(decodeError(fromHex("0a ffffffff 05")), /truncated/)
    assert.match(decodeError(fromHex("0c ffffffff")), /truncated/)
  })

  it("bounds the nesting depth", () => {
    const nested = Amf0.encode([{ a: { b: { c: [1] } } }])
    assert.isTrue(Result.isSuccess(Amf0.decode(nested, { maxDepth: 4 })))
    assert.match(decodeError(nested, { maxDepth: 3 }), /deeper than 3/)
    // 100 000 nested arrays: a ProtocolError, not a stack overflow.
    const deep = new Uint8Array(500000)
    for (let i = 0; i < 100000; i++) deep.set([0x0a, 0, 0, 0, 1], i * 5)
    assert.match(decodeError(deep), /deeper than 64/)
  })

  it("isObject tells objects from the other values", () => {
    assert.isTrue(Amf0.isObject({ a: 1 }))
    assert.isFalse(Amf0.isObject(null))
    assert.isFalse(Amf0.isObject([1]))
    assert.isFalse(Amf0.isObject(new Date()))
    assert.isFalse(Amf0.isObject(new Amf0.Amf0EcmaArray({})))
    assert.isFalse(Amf0.isObject("x"))
  })
})
