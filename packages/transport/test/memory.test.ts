/**
 * What only the in-memory transport does: fragmentation on demand, refused connects, a failing script,
 * and what the script's end means for the client.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Stream } from "effect"
import { type Endpoint, layerMemory, type MemoryOptions, Transport } from "../src/index.ts"
import { concat, pattern } from "./support/bytes.ts"

const endpoint: Endpoint = { host: "memory.test", port: 1935 }

const connectWith = (options: MemoryOptions, to: Endpoint = endpoint) =>
  Effect.flatMap(Transport, (transport) => transport.connect(to)).pipe(Effect.provide(layerMemory(options)))

describe("layerMemory", () => {
  it.effect("delivers the server's bytes in pieces of at most `fragment` bytes", () =>
    Effect.gen(function*() {
      const data = pattern(100)
      const connection = yield* connectWith({ fragment: 7, serve: (server) => server.write(data) })
      const pieces = yield* Stream.runCollect(connection.reads)
      assert.deepStrictEqual(pieces.map((piece) => piece.length), [...Array.from({ length: 14 }, () => 7), 2])
      assert.deepStrictEqual(concat(pieces), data)
    }))

  it.effect("fragment 1 delivers byte by byte", () =>
    Effect.gen(function*() {
      const connection = yield* connectWith({ fragment: 1, serve: (server) => server.write(pattern(50)) })
      const pieces = yield* Stream.runCollect(connection.reads)
      assert.strictEqual(pieces.length, 50)
      assert.isTrue(pieces.every((piece) => piece.length === 1))
    }))

  it.effect("refuse makes connect fail with ConnectFailed { code: ECONNREFUSED }", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(connectWith({ refuse: true, serve: () => Effect.void }))
      assert.deepInclude(error, { _tag: "ConnectFailed", host: "memory.test", port: 1935, code: "ECONNREFUSED" })
    }))

  it.effect("the script sees the endpoint, and the client sees TLS details for a TLS endpoint", () =>
    Effect.gen(function*() {
      const seen = yield* Deferred.make<Endpoint>()
      const tlsEndpoint: Endpoint = { host: "live.example.com", port: 443, tls: {} }
      const connection = yield* connectWith({ serve: (server) => Deferred.succeed(seen, server.endpoint) }, tlsEndpoint)
      assert.strictEqual(yield* Deferred.await(seen), tlsEndpoint)
      assert.strictEqual(connection.transport, "memory")
      assert.strictEqual(connection.tls?.servername, "live.example.com")
    }))

  it.effect("when the script returns, the client reads the end and its writes are discarded", () =>
    Effect.gen(function*() {
      const connection = yield* connectWith({ serve: (server) => server.write(new Uint8Array([1, 2])) })
      const error = yield* Effect.flip(connection.readExactly(3))
      assert.deepInclude(error, { _tag: "UnexpectedEof", expected: 3, received: 2 })
      yield* connection.write(pattern(1024 * 1024))
    }))

  it.effect("when the script fails, the client sees ConnectionReset naming the failure", () =>
    Effect.gen(function*() {
      const connection = yield* connectWith({ serve: () => Effect.fail(new Error("script broke")) })
      const error = yield* Effect.flip(connection.readExactly(1))
      assert.strictEqual(error._tag, "ConnectionReset")
      assert.include(error.message, "script broke")
    }))

  it.effect("the script reads what the client wrote, and the end when the client closes", () =>
    Effect.gen(function*() {
      const received = yield* Deferred.make<{ head: Uint8Array; rest: Uint8Array; eof: unknown }>()
      const connection = yield* connectWith({
        serve: (server) =>
          Effect.gen(function*() {
            const head = yield* server.readExactly(3)
            const rest = concat(yield* Stream.runCollect(server.reads))
            const eof = yield* Effect.flip(server.readExactly(1))
            yield* Deferred.succeed(received, { head, rest, eof })
          })
      })
      yield* connection.write([new Uint8Array([1, 2]), new Uint8Array([3, 4])])
      yield* connection.write(new Uint8Array([5]))
      yield* connection.close
      const result = yield* Deferred.await(received)
      assert.deepStrictEqual(result.head, new Uint8Array([1, 2, 3]))
      assert.deepStrictEqual(result.rest, new Uint8Array([4, 5]))
      assert.deepInclude(result.eof, { _tag: "UnexpectedEof", expected: 1, received: 0 })
    }))

  it.effect("a client write waits while the script does not read", () =>
    Effect.gen(function*() {
      const go = yield* Deferred.make<void>()
      const connection = yield* connectWith({
        serve: (server) => Effect.andThen(Deferred.await(go), server.readExactly(1024 * 1024))
      })
      const writing = yield* Effect.forkChild(connection.write(pattern(1024 * 1024)))
      yield* Effect.yieldNow
      assert.isUndefined(writing.pollUnsafe())
      yield* Deferred.succeed(go, undefined)
      yield* Fiber.join(writing)
    }))
})
