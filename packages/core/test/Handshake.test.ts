import { assert, describe, it } from "@effect/vitest"
import { layerMemory, type MemoryServer, Transport } from "@effect-rtmp/transport"
import { Effect } from "effect"
import * as Handshake from "../src/Handshake.ts"

const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n))

/** Connects to a scripted in-memory server and runs the client handshake against it. */
const handshakeWith = (serve: (server: MemoryServer) => Effect.Effect<void, unknown>, fragment = 1) =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const connection = yield* transport.connect({ host: "memory", port: 1 })
    yield* Handshake.run(connection)
    return connection
  }).pipe(Effect.scoped, Effect.provide(layerMemory({ serve, fragment })))

describe("Handshake", () => {
  it("makes C0+C1: version 3, time 0, four zero bytes, random", () => {
    const c0c1 = Handshake.makeC0C1()
    assert.strictEqual(c0c1.length, 1537)
    assert.strictEqual(c0c1[0], 3)
    assert.deepStrictEqual([...c0c1.subarray(1, 9)], [0, 0, 0, 0, 0, 0, 0, 0])
    assert.notDeepEqual(Handshake.makeC0C1().subarray(9), c0c1.subarray(9))
  })

  it.effect("completes with a well-behaved server, delivered one byte at a time", () =>
    Effect.gen(function*() {
      const seen: { c0c1?: Uint8Array; c2?: Uint8Array; s1?: Uint8Array } = {}
      const after = new Uint8Array([1, 2, 3, 4, 5])
      const result = yield* Effect.gen(function*() {
        const transport = yield* Transport
        const connection = yield* transport.connect({ host: "memory", port: 1 })
        yield* Handshake.run(connection)
        // Nothing after S2 was consumed by the handshake.
        return yield* connection.readExactly(5)
      }).pipe(
        Effect.scoped,
        Effect.provide(layerMemory({
          fragment: 1,
          serve: (server) =>
            Effect.gen(function*() {
              const c0c1 = yield* server.readExactly(1537)
              seen.c0c1 = c0c1
              const s1 = random(1536)
              s1.fill(0, 0, 8)
              seen.s1 = s1
              yield* server.write(new Uint8Array([3, ...s1]))
              // S2 only after C2: the client must send C2 without waiting for S2.
              seen.c2 = yield* server.readExactly(1536)
              yield* server.write(c0c1.subarray(1))
              yield* server.write(after)
            })
        }))
      )
      assert.deepStrictEqual(result, after)
      assert.strictEqual(seen.c0c1![0], 3)
      assert.deepStrictEqual(seen.c2, seen.s1)
    }))

  it.effect("fails with HandshakeError when S0 is not version 3", () =>
    Effect.gen(function*() {
      const error = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([6, ...random(1536)]))
        })
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "HandshakeError")
      assert.match(error._tag === "HandshakeError" ? error.reason : "", /RTMPE/)
    }))

  it.effect("explains a TLS answer on a plain connection", () =>
    Effect.gen(function*() {
      const error = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([0x15, 3, 1, 0, 2, 2, 50]))
        })
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "HandshakeError")
      assert.match(error._tag === "HandshakeError" ? error.reason : "", /rtmps/)
    }))

  it.effect("tolerates an S2 that does not echo C1", () =>
    Effect.gen(function*() {
      yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([3, ...random(1536)]))
          yield* server.readExactly(1536)
          yield* server.write(random(1536))
        })
      )
    }))

  it.effect("reports EOF inside S1 as UnexpectedEof with the bytes received", () =>
    Effect.gen(function*() {
      const error = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([3, ...random(102)]))
        })
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "UnexpectedEof")
      if (error._tag === "UnexpectedEof") {
        assert.strictEqual(error.expected, 1536)
        assert.strictEqual(error.received, 102)
        assert.strictEqual(error.phase, "handshake S1")
      }
    }))

  it.effect("reports EOF before S0 and inside S2 with their phases", () =>
    Effect.gen(function*() {
      const s0 = yield* handshakeWith((server) => Effect.asVoid(server.readExactly(1537))).pipe(Effect.flip)
      assert.deepInclude(s0, { _tag: "UnexpectedEof", expected: 1, received: 0, phase: "handshake S0" })
      const s2 = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([3, ...random(1536)]))
          yield* server.readExactly(1536)
          yield* server.write(random(1000))
        }), 100).pipe(Effect.flip)
      assert.deepInclude(s2, { _tag: "UnexpectedEof", expected: 1536, received: 1000, phase: "handshake S2" })
    }))
})
