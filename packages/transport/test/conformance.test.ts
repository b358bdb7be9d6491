/**
 * One conformance suite, run against every transport Layer: coroutine and blocking over TCP and over
 * TLS (against real local servers), and the in-memory transport. Each case scripts the server side and
 * asserts exact bytes and error fields on the client side.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, type Scope, Stream } from "effect"
import { afterAll } from "vitest"
import { type Endpoint, layerBlocking, layerCoroutine, Transport } from "../src/index.ts"
import { closeGraceMillis } from "../src/internal/closeSocket.ts"
import { concat, pattern, sameBytes } from "./support/bytes.ts"
import { makeCertificates } from "./support/certificates.ts"
import { type Harness, memoryHarness, realHarness } from "./support/harness.ts"

const certificates = makeCertificates()
afterAll(() => certificates.dispose())

const connect = (endpoint: Endpoint) => Effect.flatMap(Transport, (transport) => transport.connect(endpoint))

/** Piece sizes for a 4096-byte message: single bytes, small and large pieces. */
const fragmentSizes = [1, 1, 1, 1, 2, 3, 5, 8, 13, 21, 1, 1000, 1, 1, 500, 7, 1]
const fragmented = 4096

/** Large enough to exceed what the kernels' and Node's buffers can absorb on the loopback interface. */
const backpressureSize = 32 * 1024 * 1024

const conformance = (harness: Harness) =>
  describe(harness.name, () => {
    const test = (name: string, body: () => Effect.Effect<void, unknown, Transport | Scope.Scope>) =>
      it.live(name, () => body().pipe(Effect.provide(harness.layer)), 20_000)

    test("readExactly and reads reassemble bytes sent in arbitrary fragments", () =>
      Effect.gen(function*() {
        const data = pattern(fragmented)
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            let at = 0
            for (const size of fragmentSizes) {
              yield* peer.write(data.subarray(at, at + size))
              at += size
              if (size <= 3) yield* Effect.sleep("2 millis")
            }
            yield* peer.write(data.subarray(at))
          })
        )
        const connection = yield* connect(served.endpoint)
        const none = yield* connection.readExactly(0)
        const first = yield* connection.readExactly(1)
        const handshake = yield* connection.readExactly(1535)
        const small = yield* connection.readExactly(7)
        const rest = yield* Stream.runCollect(connection.reads)
        assert.strictEqual(none.length, 0)
        assert.strictEqual(first.length, 1)
        assert.strictEqual(handshake.length, 1535)
        assert.strictEqual(small.length, 7)
        assert.isTrue(rest.every((piece) => piece.length > 0), "reads yields non-empty pieces")
        assert.deepStrictEqual(concat([first, handshake, small, ...rest]), data)
        yield* served.result
      }))

    test("readExactly fails with UnexpectedEof { expected, received } when the peer closes mid-read", () =>
      Effect.gen(function*() {
        const served = yield* harness.serve((peer) => peer.write(pattern(100)))
        const connection = yield* connect(served.endpoint)
        const error = yield* Effect.flip(connection.readExactly(1536))
        assert.strictEqual(error._tag, "UnexpectedEof")
        if (error._tag !== "UnexpectedEof") return
        assert.strictEqual(error.expected, 1536)
        assert.strictEqual(error.received, 100)
        const again = yield* Effect.flip(connection.readExactly(4))
        assert.deepInclude(again, { _tag: "UnexpectedEof", expected: 4, received: 0 })
        assert.deepStrictEqual(yield* Stream.runCollect(connection.reads), [])
      }))

    test("reads ends normally when the peer closes cleanly", () =>
      Effect.gen(function*() {
        const data = pattern(3000, 2)
        const served = yield* harness.serve((peer) => peer.write(data))
        const connection = yield* connect(served.endpoint)
        const head = yield* connection.readExactly(10)
        const rest = yield* Stream.runCollect(connection.reads)
        assert.deepStrictEqual(concat([head, ...rest]), data)
      }))

    test("write sends the pieces in order (echo round trip)", () =>
      Effect.gen(function*() {
        const pieces = [pattern(1, 3), pattern(300, 4), pattern(70_000, 5), pattern(2, 6)]
        const single = pattern(1000, 7)
        const total = concat([...pieces, single])
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            const received = yield* peer.readExactly(total.length)
            yield* peer.write(received)
            return received
          })
        )
        const connection = yield* connect(served.endpoint)
        yield* connection.write(pieces)
        yield* connection.write([])
        yield* connection.write(single)
        const echoed = yield* connection.readExactly(total.length)
        assert.deepStrictEqual(yield* served.result, total)
        assert.deepStrictEqual(echoed, total)
      }))

    test("one reader fiber and one writer fiber run concurrently", () =>
      Effect.gen(function*() {
        const blocks = Array.from({ length: 16 }, (_, i) => pattern(64 * 1024, 10 + i))
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            for (let i = 0; i < blocks.length; i++) yield* peer.write(yield* peer.readExactly(64 * 1024))
          })
        )
        const connection = yield* connect(served.endpoint)
        const writer = yield* Effect.forkChild(Effect.forEach(blocks, (block) => connection.write(block)))
        const echoed = yield* connection.readExactly(blocks.length * 64 * 1024)
        yield* Fiber.join(writer)
        assert.isTrue(sameBytes(echoed, concat(blocks)))
        yield* served.result
      }))

    test("an interrupted readExactly loses no bytes", () =>
      Effect.gen(function*() {
        const data = pattern(10, 8)
        const more = yield* Deferred.make<void>()
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            yield* peer.write(data.subarray(0, 5))
            yield* Deferred.await(more)
            yield* peer.write(data.subarray(5))
          })
        )
        const connection = yield* connect(served.endpoint)
        const early = yield* connection.readExactly(10).pipe(Effect.timeoutOption("150 millis"))
        assert.isTrue(Option.isNone(early))
        yield* Deferred.succeed(more, undefined)
        assert.deepStrictEqual(yield* connection.readExactly(10), data)
      }))

    test("a write waits while the peer does not read, and completes once it reads", () =>
      Effect.gen(function*() {
        const big = pattern(backpressureSize, 9)
        const startReading = yield* Deferred.make<void>()
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            yield* Deferred.await(startReading)
            return sameBytes(yield* peer.readExactly(big.length), big)
          })
        )
        const connection = yield* connect(served.endpoint)
        const writing = yield* Effect.forkChild(connection.write(big))
        yield* Effect.sleep("300 millis")
        assert.isUndefined(writing.pollUnsafe(), "the write completed although the peer read nothing")
        yield* Deferred.succeed(startReading, undefined)
        yield* Fiber.join(writing)
        assert.isTrue(yield* served.result, "the peer received exactly what was written")
      }))

    test("an interrupted write: later writes fail, reads go on, and close resets at once", () =>
      Effect.gen(function*() {
        const interrupted = yield* Deferred.make<void>()
        const reply = pattern(3, 13)
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            yield* Deferred.await(interrupted)
            yield* peer.write(reply)
            // never reads: only a reset (or a destroyed socket) ends this
            yield* peer.awaitGone
          })
        )
        const connection = yield* connect(served.endpoint)
        const written = yield* connection.write(pattern(backpressureSize, 12)).pipe(Effect.timeoutOption("300 millis"))
        assert.isTrue(Option.isNone(written), "the write completed although the peer read nothing")
        yield* Deferred.succeed(interrupted, undefined)
        const writeError = yield* Effect.flip(connection.write(pattern(16)))
        assert.deepInclude(writeError, { _tag: "ConnectionReset", code: "ERR_SOCKET_CLOSED" })
        assert.deepStrictEqual(yield* connection.readExactly(3), reply)
        const started = Date.now()
        yield* connection.close
        assert.isBelow(Date.now() - started, 500, "close after an aborted write waited")
        // A graceful close would wait (closeGraceMillis, 2 s) for a flush the peer never lets happen.
        yield* served.result.pipe(Effect.timeoutOrElse({
          duration: "1 second",
          orElse: () => Effect.die(new Error("the peer still had the connection 1 s after close"))
        }))
      }))

    test("close: the peer gets every byte, then the end; close is idempotent; later operations fail", () =>
      Effect.gen(function*() {
        const data = pattern(5000, 11)
        const served = yield* harness.serve((peer) => peer.readToEnd)
        const connection = yield* connect(served.endpoint)
        yield* connection.write(data)
        yield* connection.close
        yield* connection.close
        assert.deepStrictEqual(yield* served.result, data)
        const readError = yield* Effect.flip(connection.readExactly(1))
        assert.deepInclude(readError, { _tag: "ConnectionReset", code: "ERR_SOCKET_CLOSED" })
        const writeError = yield* Effect.flip(connection.write(data))
        assert.deepInclude(writeError, { _tag: "ConnectionReset", code: "ERR_SOCKET_CLOSED" })
      }))

    test("close with unread incoming bytes: the peer gets every byte written and a clean end, no reset", () =>
      Effect.gen(function*() {
        const data = pattern(60_000, 14)
        // more than Node's and the kernel's receive buffers hold, so part of it is still in the kernel
        const unread = pattern(harness.real ? 4 * 1024 * 1024 : 64 * 1024, 15)
        const closing = yield* Deferred.make<void>()
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            yield* Effect.forkChild(peer.write(unread))
            // reads nothing until the client is in its close: a reset would make the kernel drop what it holds
            yield* Deferred.await(closing)
            const received = yield* peer.readExactly(data.length)
            const rest = yield* peer.readToEnd
            return { received, rest }
          })
        )
        const connection = yield* connect(served.endpoint)
        yield* connection.write(data)
        const started = Date.now()
        const closed = yield* Effect.forkChild(connection.close)
        yield* Effect.sleep("200 millis")
        yield* Deferred.succeed(closing, undefined)
        const { received, rest } = yield* served.result
        assert.isTrue(sameBytes(received, data), "the peer received every byte written before close")
        assert.strictEqual(rest.length, 0)
        yield* Fiber.join(closed)
        assert.isBelow(Date.now() - started, closeGraceMillis, "close waited for the bound, not for the peer's end")
      }))

    test("close: a peer that never closes gets the connection released after the bound", () =>
      Effect.gen(function*() {
        const data = pattern(1000, 16)
        const release = yield* Deferred.make<void>()
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            yield* peer.halfOpen
            yield* peer.write(pattern(3, 17))
            const received = yield* peer.readExactly(data.length)
            // never reads the end, never closes, until told to watch for the client going away
            yield* Deferred.await(release)
            yield* peer.awaitGone
            return received
          })
        )
        const connection = yield* connect({ ...served.endpoint, closeTimeout: "600 millis" })
        yield* connection.write(data)
        const started = Date.now()
        yield* connection.close
        const took = Date.now() - started
        if (harness.real) assert.isAtLeast(took, 550, "close returned before the peer closed or the bound")
        assert.isBelow(took, 1_500, "close waited well past the bound")
        yield* Deferred.succeed(release, undefined)
        assert.deepStrictEqual(
          yield* served.result.pipe(Effect.timeoutOrElse({
            duration: "1 second",
            orElse: () => Effect.die(new Error("the peer still had the connection 1 s after close"))
          })),
          data
        )
      }))

    test("close: the default bound is closeGraceMillis", () =>
      Effect.gen(function*() {
        const served = yield* harness.serve((peer) => Effect.andThen(peer.halfOpen, Effect.never))
        const connection = yield* connect(served.endpoint)
        const started = Date.now()
        yield* connection.close
        const took = Date.now() - started
        if (harness.real) assert.isAtLeast(took, closeGraceMillis - 50)
        assert.isBelow(took, closeGraceMillis + 1_000)
      }))

    test("a reset by the peer fails the pending read, then writes, with ConnectionReset", () =>
      Effect.gen(function*() {
        const served = yield* harness.serve((peer) =>
          Effect.gen(function*() {
            yield* peer.readExactly(1)
            yield* peer.reset
          })
        )
        const connection = yield* connect(served.endpoint)
        yield* connection.write(new Uint8Array([1]))
        const readError = yield* Effect.flip(connection.readExactly(10))
        assert.deepInclude(readError, { _tag: "ConnectionReset", code: "ECONNRESET" })
        for (let i = 0; i < 2; i++) {
          const writeError = yield* Effect.flip(
            connection.write(pattern(1024)).pipe(Effect.timeoutOrElse({
              duration: "2 seconds",
              orElse: () => Effect.die(new Error("a write after a reset hangs"))
            }))
          )
          assert.strictEqual(writeError._tag, "ConnectionReset")
        }
      }))
  })

conformance(realHarness("coroutine over TCP", layerCoroutine))
conformance(realHarness("coroutine over TLS", layerCoroutine, certificates))
conformance(realHarness("blocking over TCP", layerBlocking))
conformance(realHarness("blocking over TLS", layerBlocking, certificates))
conformance(memoryHarness("memory"))
conformance(memoryHarness("memory, fragments of 1 byte", { fragment: 1 }))
