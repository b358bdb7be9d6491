/**
 * The non-blocking transport, on Effect's socket (`effect/socket/Socket` with the Node adapter from
 * `@effect/platform-node/NodeSocket`). Incoming bytes arrive as batches pulled from the socket's reader,
 * with end-to-end backpressure; exact reads are cut from those batches with a leftover buffer; writes use
 * the socket's writer (corked batches, waiting for `drain` when Node's buffer is full).
 *
 * Use it by default: it is the transport of the CLI's `--transport coroutine`.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Layer, Scope } from "effect"
import * as Arr from "effect/Array"
import * as Socket from "effect/socket/Socket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as ByteReader from "./internal/ByteReader.ts"
import { dial } from "./internal/dial.ts"
import { type Connection, type Endpoint, Transport, type TransportShape } from "./Transport.ts"
import { ConnectionReset, fromNodeError, type TransportError } from "./TransportError.ts"

/** The failure of any operation on a connection that was closed on our side. */
const closedLocally = () =>
  new ConnectionReset({ code: "ERR_SOCKET_CLOSED", reason: "the connection was closed on this side" })

/** The failure of a write after an earlier write was interrupted before it completed. */
const abortedLocally = () =>
  new ConnectionReset({
    code: "ERR_SOCKET_CLOSED",
    reason: "the connection was aborted on this side: an earlier write was interrupted (timed out) before it completed"
  })

/**
 * Maps a `SocketError` back to the transport's errors. A clean close (code 1000) is the end of the stream;
 * read and write failures carry Node's error as their `cause`.
 */
const fromSocketError = (
  error: Socket.SocketError,
  context: { readonly host: string; readonly port: number; readonly tls: boolean },
  isClosed: () => boolean
): Effect.Effect<never, TransportError | Cause.Done> => {
  const reason = error.reason
  switch (reason._tag) {
    case "SocketCloseError":
      if (reason.code === 1000) return Cause.done()
      return Effect.fail(
        isClosed() ? closedLocally() : new ConnectionReset({
          code: "ECONNRESET",
          reason: `the connection closed abnormally (close code ${reason.code})`
        })
      )
    case "SocketReadError":
    case "SocketWriteError":
    case "SocketOpenError":
    case "SocketUpgradeError":
      return Effect.fail(fromNodeError(reason.cause, { ...context, connected: true }))
  }
}

const toPieces = (pieces: Uint8Array | ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> =>
  pieces instanceof Uint8Array ? [pieces] : pieces

/**
 * Opens a connection to `endpoint`: the TCP connect and the TLS handshake are done when this returns.
 * The connection is closed when the Scope closes, or earlier with `Connection.close`.
 */
const connect = (endpoint: Endpoint): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope)
    const close = Scope.close(scope, Exit.void)
    const dialed = yield* Scope.provide(dial(endpoint), scope).pipe(Effect.onError(() => close))

    const context = { host: endpoint.host, port: endpoint.port, tls: endpoint.tls !== undefined }

    // The socket is already connected: acquiring the reader attaches to it (no lazy connect left), so
    // this cannot fail in practice; map it anyway rather than assume.
    const socket = yield* NodeSocket.fromDuplex(Effect.succeed(dialed.socket))
    const pull = yield* Scope.provide(Socket.readerBytes(socket), scope).pipe(
      Effect.mapError((error) => fromNodeError(error.reason, { ...context, connected: true })),
      Effect.onError(() => close)
    )
    const writer = yield* Scope.provide(socket.writer, scope)

    // Set when a write was interrupted before it completed: later writes fail, and the close is a reset.
    let aborted = false

    // Registered last, so it runs first on close: a pull failed by the closing reader sees `closed`, and an
    // aborted connection is reset before the graceful close of `dial` would wait on its unsent bytes.
    let closed = false
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        closed = true
        if (aborted) dialed.abort()
      })
    )
    const isClosed = () => closed

    const reader = ByteReader.make<TransportError>(
      Effect.catch(pull, (error) => fromSocketError(error, context, isClosed))
    )

    // Why the socket can take no more writes; undefined while it can. Node's own error, when there is
    // one, says more than the writer's "socket closed".
    const writeBlocked = (): TransportError | undefined => {
      if (closed) return closedLocally()
      if (aborted) return abortedLocally()
      const node = dialed.socket
      if (node.errored) return fromNodeError(node.errored, { ...context, connected: true })
      if (node.destroyed || node.writableEnded) {
        return new ConnectionReset({ code: "EPIPE", reason: "the connection was closed by the peer" })
      }
      return undefined
    }

    const write = (pieces: Uint8Array | ReadonlyArray<Uint8Array>): Effect.Effect<void, TransportError> =>
      Effect.suspend(() => {
        // Checked first because the socket's writer would wait instead of failing: for a reconnection once
        // its reader is gone, for a `drain` that never comes on a destroyed socket; and it takes the error
        // value Node returns for a write on an ended socket for success.
        const blocked = writeBlocked()
        if (blocked !== undefined) return Effect.fail(blocked)
        const nonEmpty = toPieces(pieces).filter((piece) => piece.length > 0)
        if (!Arr.isReadonlyArrayNonEmpty(nonEmpty)) return Effect.void
        return writer.writeAll(nonEmpty).pipe(
          Effect.catch((error) => {
            const blocked = writeBlocked()
            if (blocked !== undefined) return Effect.fail(blocked)
            return fromSocketError(error, context, isClosed).pipe(
              Effect.catchIf(Cause.isDone, () => Effect.fail(closedLocally()))
            )
          }),
          // Interrupted (a timeout) before Node took every piece, or while waiting for `drain`: part of the
          // pieces may be on the wire, so the byte stream cannot go on.
          Effect.onInterrupt(() => Effect.sync(() => (aborted = true)))
        )
      })

    return {
      transport: "coroutine",
      tls: dialed.tls,
      readExactly: reader.readExactly,
      reads: reader.reads,
      write,
      close
    } satisfies Connection
  })

/**
 * The coroutine `Transport` implementation, for callers that build their own Layer.
 *
 * @since 0.1.0
 */
export const makeCoroutine: TransportShape = Transport.of({ name: "coroutine", connect })

/**
 * Provides `Transport` on Effect's socket: non-blocking, reads as a Stream. The default transport.
 *
 * @since 0.1.0
 */
export const layerCoroutine: Layer.Layer<Transport> = Layer.succeed(Transport, makeCoroutine)
