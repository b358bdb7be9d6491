/**
 * AMF0 decoding, `Commands.parse` and the protocol control parsers against hostile or broken servers
 * (issue 3): property tests with fixed seeds over random bytes and mutated encodings of random values (see
 * `support/fuzzCases.ts`), and the nesting and size attacks, each of which must end in a `ProtocolError`
 * rather than a throw, a stack overflow or unbounded work. `npm run fuzz` runs the same properties for longer.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Amf0 from "../src/Amf0.ts"
import * as ChunkDecoder from "../src/ChunkDecoder.ts"
import * as ChunkEncoder from "../src/ChunkEncoder.ts"
import * as Commands from "../src/Commands.ts"
import * as ProtocolControl from "../src/ProtocolControl.ts"
import { ProtocolError } from "../src/RtmpError.ts"
import {
  Amf0Scenario,
  type Modules,
  prng,
  RandomAmf0Scenario,
  runAmf0Scenario,
  runRandomAmf0Scenario
} from "./support/fuzzCases.ts"

const modules: Modules = { Amf0, ChunkDecoder, ChunkEncoder, Commands, ProtocolControl, ProtocolError }

const repeat = (unit: ReadonlyArray<number>, times: number, tail: ReadonlyArray<number> = []): Uint8Array => {
  const out = new Uint8Array(unit.length * times + tail.length)
  for (let i = 0; i < times; i++) out.set(unit, i * unit.length)
  out.set(tail, unit.length * times)
  return out
}

const decodeError = (bytes: Uint8Array, options?: Amf0.DecodeOptions): string => {
  const result = Amf0.decode(bytes, options)
  if (Result.isSuccess(result)) throw new Error("expected a ProtocolError")
  assert.instanceOf(result.failure, ProtocolError)
  return result.failure.reason
}

const command = (payload: Uint8Array) => ({ typeId: 20, streamId: 1, timestamp: 0, chunkStreamId: 3, payload })

describe("Amf0 under hostile input", () => {
  describe("properties (fixed seeds)", () => {
    it.prop(
      "mutated encodings of random values (commands, deep nesting): values or a ProtocolError, within maxDepth",
      [Amf0Scenario],
      ([scenario]) => {
        runAmf0Scenario(modules, scenario)
      },
      { timeout: 10_000, arbitrary: { runs: 400, seed: 20, size: 30 } }
    )

    it.prop(
      "random bytes to Amf0.decode, Commands.parse and the protocol control parsers: never a throw",
      [RandomAmf0Scenario],
      ([scenario]) => {
        runRandomAmf0Scenario(modules, scenario)
      },
      { timeout: 10_000, arbitrary: { runs: 1000, seed: 18, size: 30 } }
    )
  })

  describe("nesting", () => {
    const objects = repeat([0x03, 0x00, 0x01, 0x61], 10_000) // { a: { a: ... } }
    const ecmaArrays = repeat([0x08, 0, 0, 0, 1, 0x00, 0x01, 0x61], 10_000)
    const typedObjects = repeat([0x10, 0x00, 0x01, 0x54, 0x00, 0x01, 0x61], 10_000)
    const mixed = repeat([0x0a, 0, 0, 0, 1, 0x03, 0x00, 0x01, 0x61, 0x08, 0, 0, 0, 1, 0x00, 0x01, 0x62], 3_334)

    for (const [name, bytes] of [
      ["objects", objects],
      ["ECMA arrays", ecmaArrays],
      ["typed objects", typedObjects],
      ["strict arrays, objects and ECMA arrays", mixed]
    ] as const) {
      it(`10 000 nested ${name}: a ProtocolError at the depth cap, not a stack overflow`, () => {
        assert.match(decodeError(bytes), /nested deeper than 64 levels/)
        assert.match(decodeError(bytes, { maxDepth: 3 }), /nested deeper than 3 levels/)
        assert.match(decodeError(bytes, { maxDepth: 0 }), /nested deeper than 0 levels at byte 0/)
      })
    }

    it("a maxDepth too large for the stack still gives a ProtocolError, never a throw", () => {
      const deeper = repeat([0x03, 0x00, 0x01, 0x61], 100_000)
      assert.match(decodeError(deeper, { maxDepth: 1_000_000 }), /./)
    })

    it("exactly maxDepth levels decode", () => {
      const value = [{ a: [new Amf0.Amf0EcmaArray({ b: [{ c: 1 }] })] }]
      const bytes = Amf0.encode(value)
      assert.isTrue(Result.isSuccess(Amf0.decode(bytes, { maxDepth: 5 })))
      assert.match(decodeError(bytes, { maxDepth: 4 }), /deeper than 4/)
    })

    it("Commands.parse of a deeply nested command is the same ProtocolError", () => {
      const bytes = new Uint8Array([...Amf0.encode(["onStatus", 0, null]), ...objects])
      const parsed = Commands.parse(command(bytes))
      assert.isTrue(Result.isFailure(parsed))
      if (Result.isFailure(parsed)) assert.match(parsed.failure.reason, /nested deeper than 64 levels/)
    })
  })

  describe("forged sizes", () => {
    it("a long string, strict array or ECMA array claiming 4 GiB is a truncation, found at once", () => {
      const start = performance.now()
      assert.match(decodeError(new Uint8Array([0x0c, 0xff, 0xff, 0xff, 0xff, 0x61])), /long string truncated/)
      assert.match(decodeError(new Uint8Array([0x0f, 0xff, 0xff, 0xff, 0xff])), /long string truncated/)
      assert.match(decodeError(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x05])), /strict array truncated/)
      assert.match(decodeError(new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01])), /truncated/)
      assert.match(decodeError(new Uint8Array([0x02, 0xff, 0xff, 0x61])), /string truncated/)
      assert.isBelow(performance.now() - start, 1000)
    })

    it("a message of 1 M values or 200 000 keys decodes in linear time", () => {
      const nulls = new Uint8Array(1_000_000).fill(0x05)
      const keys = repeat([0x00, 0x02, 0x6b, 0x6b, 0x01, 0x01], 200_000, [0x00, 0x00, 0x09])
      // The same key 200 000 times (one property), and __proto__ 200 000 times (an own property, no pollution).
      const protos = repeat([0x00, 0x09, ...Buffer.from("__proto__"), 0x01, 0x01], 200_000, [0x00, 0x00, 0x09])
      const start = performance.now()
      assert.strictEqual((Amf0.decode(nulls) as Result.Success<ReadonlyArray<Amf0.Amf0Value>, never>).success.length, 1_000_000)
      for (const body of [keys, protos]) {
        const object = new Uint8Array(body.length + 1)
        object[0] = 0x03
        object.set(body, 1)
        const result = Amf0.decode(object)
        assert.isTrue(Result.isSuccess(result))
        if (Result.isSuccess(result)) {
          const object = result.success[0] as Amf0.Amf0Object
          assert.strictEqual(Object.keys(object).length, 1)
          assert.strictEqual(Object.getPrototypeOf(object), Object.prototype)
        }
      }
      assert.isBelow(performance.now() - start, 5000)
    })
  })

  describe("Commands.parse", () => {
    it("answers a typed result for status objects of every wrong shape", () => {
      const infos: ReadonlyArray<Amf0.Amf0Value> = [
        undefined,
        null,
        "NetStream.Publish.Start",
        1,
        [{ code: "x" }],
        new Amf0.Amf0EcmaArray({ level: "error", code: "NetStream.Publish.BadName" }),
        { code: 5 },
        { code: { nested: "x" } },
        { level: ["status"], code: "NetStream.Publish.Start", description: new Date(NaN) },
        JSON.parse(`{"__proto__": {"code": "polluted"}, "code": "NetStream.Publish.Start"}`)
      ]
      for (const name of ["_result", "_error", "onStatus", "", "\u0000"]) {
        for (const info of infos) {
          for (const values of [[name], [name, "1"], [name, 1, null, info], [name, NaN, info], [name, 2, info, info, info]]) {
            const parsed = Commands.parse(command(Amf0.encode(values)))
            assert.isTrue(Result.isSuccess(parsed))
            if (Result.isSuccess(parsed)) {
              const c = parsed.success
              if (c._tag === "Error" || c._tag === "OnStatus") assert.isString(c.info.code)
            }
          }
        }
      }
      assert.isUndefined(({} as Record<string, unknown>)["code"])
    })
  })

  describe("protocol control parsers", () => {
    it("never throw on payloads of any length and content", () => {
      const next = prng(7)
      for (let length = 0; length <= 16; length++) {
        for (let n = 0; n < 200; n++) {
          const payload = new Uint8Array(length).map(() => Math.floor(next() * 256))
          // Known User Control event types most of the time, so that their length checks are reached.
          if (length >= 2 && n % 2 === 0) payload.set([0, [0, 1, 2, 3, 4, 6, 7, 31, 32][n % 9]!])
          const user = ProtocolControl.parseUserControl(payload)
          const word = ProtocolControl.readUint32(payload)
          const bandwidth = ProtocolControl.parseSetPeerBandwidth(payload)
          for (const result of [user, word, bandwidth] as ReadonlyArray<Result.Result<unknown, ProtocolError>>) {
            if (Result.isFailure(result)) assert.instanceOf(result.failure, ProtocolError)
          }
          assert.strictEqual(Result.isSuccess(word), length >= 4)
          assert.strictEqual(Result.isSuccess(bandwidth), length >= 4)
          if (length < 2) assert.isTrue(Result.isFailure(user))
        }
      }
    })
  })
})
