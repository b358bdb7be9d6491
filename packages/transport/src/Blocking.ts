/**
 * The blocking-style transport: `node:net` / `node:tls` used directly, java.io style. The socket stays in
 * paused mode (no `data` listener ever): `readExactly(n)` asks Node for exactly `n` bytes with
 * `socket.read(n)` and waits for `readable` until Node has them, so nothing is read ahead beyond Node's own
 * buffer; a write completes when Node's write callback reports that the kernel took the bytes.
 *
 * It shares no read or write code with the coroutine transport, so the two can check each other: use it
 * to tell a transport defect from a server problem (CLI `--transport blocking`).
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Layer, Scope, Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as net from "node:net"
import { dial } from "./internal/dial.ts"
import { type Connection, type Endpoint, Transport, type TransportShape } from "./Transport.ts"
import { ConnectionReset, fromNodeError, type TransportError, UnexpectedEof } from "./TransportError.ts"

const empty = new Uint8Array(0)

const closedLocally = () =>
  new ConnectionReset({ code: "ERR_SOCKET_CLOSED", reason: "the connection was closed on this side" })

/** The failure of a write after an earlier write was interrupted before it completed. */
const abortedLocally = () =>
  new ConnectionReset({
    code: "ERR_SOCKET_CLOSED",
    reason: "the connection was aborted on this side: an earlier write was interrupted (timed out) before it completed"
  })

const toPieces = (pieces: Uint8Array | ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> =>
  pieces instanceof Uint8Array ? [pieces] : pieces

/** What one attempt at a read concluded: a value, a failure, or "wait for the next event". */
type Attempt<A, E> = Exit.Exit<A, E> | undefined

/**
 * Runs `attempt` now and again on every `readable`, `end`, `error` or `close` event until it concludes.
 * Listeners exist only while a read is outstanding; a function in `wakers` wakes it when we close.
 */
const whenReadable = <A, E>(
  socket: net.Socket,
  wakers: Set<() => void>,
  attempt: () => Attempt<A, E>
): Effect.Effect<A, E> =>
  Effect.callback<A, E>((resume) => {
    // `attempt` runs inside Node's event handlers: nothing it throws may escape there.
    const check = (): Attempt<A, E> => {
      try {
        return attempt()
      } catch (defect) {
        return Exit.die(defect)
      }
    }
    const first = check()
    if (first !== undefined) {
      resume(first)
      return
    }
    const cleanup = () => {
      socket.off("readable", retry)
      socket.off("end", retry)
      socket.off("error", retry)
      socket.off("close", retry)
      wakers.delete(retry)
    }
    function retry() {
      const result = check()
      if (result === undefined) return
      cleanup()
      resume(result)
    }
    socket.on("readable", retry)
    socket.on("end", retry)
    socket.on("error", retry)
    socket.on("close", retry)
    wakers.add(retry)
    return Effect.sync(cleanup)
  })

/**
 * Opens a connection to `endpoint`: the TCP connect and the TLS handshake are done when this returns.
 * The connection is closed when the Scope closes, or earlier with `Connection.close`.
 */
const connect = (endpoint: Endpoint): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope)
    const close = Scope.close(scope, Exit.void)
    const { socket, tls, abort: reset } = yield* Scope.provide(dial(endpoint), scope).pipe(
      Effect.onError(() => close)
    )
    const context = { host: endpoint.host, port: endpoint.port, tls: tls !== undefined, connected: true }

    // Set when a write was interrupted before it completed: later writes fail, and the close is a reset.
    let aborted = false

    let closed = false
    const wakers = new Set<() => void>()
    yield* Scope.addFinalizer(
      scope,
      // Runs before the graceful close of `dial`, which would wait on an aborted connection's unsent bytes.
      Effect.sync(() => {
        closed = true
        if (aborted) reset()
        for (const wake of [...wakers]) wake()
      })
    )

    // Why the socket can give no more bytes, when it cannot; undefined while it still may.
    const failure = (): TransportError | undefined => {
      if (closed) return closedLocally()
      if (socket.errored) return fromNodeError(socket.errored, context)
      if (socket.destroyed) {
        return new ConnectionReset({ code: "ECONNRESET", reason: "the connection closed without a clean end" })
      }
      return undefined
    }

    const readExactly = (n: number): Effect.Effect<Uint8Array, TransportError> =>
      n <= 0 ? Effect.succeed(empty) : whenReadable<Uint8Array, TransportError>(socket, wakers, () => {
        if (closed) return Exit.fail(closedLocally())
        // null until n bytes are buffered; at the end of the stream, whatever remained
        const chunk = socket.read(n) as Buffer | null
        if (chunk !== null) {
          return chunk.length === n
            ? Exit.succeed(chunk)
            : Exit.fail(new UnexpectedEof({ expected: n, received: chunk.length }))
        }
        const failed = failure()
        if (failed !== undefined) return Exit.fail(failed)
        if (socket.readableEnded) return Exit.fail(new UnexpectedEof({ expected: n, received: 0 }))
        return undefined
      })

    const pullAvailable: Effect.Effect<NonEmptyReadonlyArray<Uint8Array>, TransportError | Cause.Done> =
      whenReadable<NonEmptyReadonlyArray<Uint8Array>, TransportError | Cause.Done>(socket, wakers, () => {
        if (closed) return Exit.fail(closedLocally())
        const chunk = socket.read() as Buffer | null
        if (chunk !== null && chunk.length > 0) return Exit.succeed([chunk])
        const failed = failure()
        if (failed !== undefined) return Exit.fail(failed)
        if (socket.readableEnded) return Exit.fail(Cause.Done())
        return undefined
      })

    const write = (pieces: Uint8Array | ReadonlyArray<Uint8Array>): Effect.Effect<void, TransportError> =>
      Effect.callback<void, TransportError>((resume) => {
        const list = toPieces(pieces).filter((piece) => piece.length > 0)
        const failed = closed
          ? closedLocally()
          : aborted
          ? abortedLocally()
          : socket.errored
          ? fromNodeError(socket.errored, context)
          : undefined
        if (failed !== undefined) {
          resume(Effect.fail(failed))
          return
        }
        if (list.length === 0) {
          resume(Effect.void)
          return
        }
        let settled = false
        const cleanup = () => {
          settled = true
          socket.off("close", onClose)
        }
        const onClose = () => {
          if (settled) return
          cleanup()
          resume(Effect.fail(failure() ?? closedLocally()))
        }
        // Called once the last piece (and so every piece before it) has been handed to the kernel.
        const onWritten = (error?: Error | null) => {
          if (settled) return
          cleanup()
          resume(error ? Effect.fail(fromNodeError(error, context)) : Effect.void)
        }
        socket.once("close", onClose)
        socket.cork()
        try {
          for (let i = 0; i < list.length - 1; i++) socket.write(list[i]!)
          socket.write(list[list.length - 1]!, onWritten)
        } catch (error) {
          onWritten(error instanceof Error ? error : new Error(String(error)))
        } finally {
          socket.uncork()
        }
        // Interrupted (a timeout) before the kernel took every byte: the byte stream cannot go on.
        return Effect.sync(() => {
          if (settled) return
          cleanup()
          aborted = true
        })
      })

    return {
      transport: "blocking",
      tls,
      readExactly,
      reads: Stream.fromPull(Effect.succeed(pullAvailable)),
      write,
      close
    } satisfies Connection
  })

/**
 * The blocking `Transport` implementation, for callers that build their own Layer.
 *
 * @since 0.1.0
 */
export const makeBlocking: TransportShape = Transport.of({ name: "blocking", connect })

/**
 * Provides `Transport` on `node:net` / `node:tls` in paused mode: exact reads, writes that complete when
 * the kernel has the bytes. Use it as a cross-check of the coroutine transport, or where a java.io-like
 * behaviour is wanted.
 *
 * @since 0.1.0
 */
export const layerBlocking: Layer.Layer<Transport> = Layer.succeed(Transport, makeBlocking)
