/**
 * The in-memory transport, for tests: every `connect` starts a scripted server (`MemoryOptions.serve`) in
 * its own fiber and joins it to the client by two in-memory pipes. The script reads what the client wrote,
 * answers in pieces as small as `fragment` bytes, and can end or reset the connection on demand; `refuse`
 * makes every connect fail as a refused TCP connect would.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Layer, Scope, type Stream } from "effect"
import * as ByteReader from "./internal/ByteReader.ts"
import * as MemoryPipe from "./internal/MemoryPipe.ts"
import { serverName } from "./internal/endpoint.ts"
import { type Connection, type Endpoint, Transport, type TransportShape } from "./Transport.ts"
import { ConnectFailed, ConnectionReset, type TransportError, type UnexpectedEof } from "./TransportError.ts"

/**
 * The server side of one in-memory connection, handed to `MemoryOptions.serve`.
 *
 * @since 0.1.0
 */
export interface MemoryServer {
  /** The endpoint the client connected to. */
  readonly endpoint: Endpoint
  /** Reads exactly `n` bytes the client wrote; fails with `UnexpectedEof` if the client closes first. */
  readonly readExactly: (n: number) => Effect.Effect<Uint8Array, UnexpectedEof>
  /** The rest of what the client writes (after `readExactly`); ends when the client closes. */
  readonly reads: Stream.Stream<Uint8Array>
  /** Sends bytes to the client, delivered in pieces of at most `fragment` bytes. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void>
  /** A clean EOF towards the client: its reads end after what was already written. */
  readonly end: Effect.Effect<void>
  /** Resets the connection: the client's pending or next read or write fails with `ConnectionReset`. */
  readonly reset: Effect.Effect<void>
}

/**
 * How the in-memory server behaves.
 *
 * @since 0.1.0
 */
export interface MemoryOptions {
  /**
   * The server script, run in its own fiber for each connection. When it returns, the server side ends
   * (EOF to the client) and later client writes are discarded; when it fails, the client sees a
   * `ConnectionReset` whose reason carries the failure. It is interrupted when the client's connect Scope
   * closes.
   */
  readonly serve: (server: MemoryServer) => Effect.Effect<void, unknown>
  /** Largest piece delivered to the client (1 = byte by byte). Default: unlimited. */
  readonly fragment?: number | undefined
  /** Every connect fails with `ConnectFailed { code: "ECONNREFUSED" }`. */
  readonly refuse?: boolean | undefined
}

/** A client write waits while more than this many bytes wait for the server to read them. */
const highWaterMark = 64 * 1024

const closedLocally = () =>
  new ConnectionReset({ code: "ERR_SOCKET_CLOSED", reason: "the connection was closed on this side" })

/** The failure of a write after an earlier write was interrupted before it completed. */
const abortedLocally = () =>
  new ConnectionReset({
    code: "ERR_SOCKET_CLOSED",
    reason: "the connection was aborted on this side: an earlier write was interrupted (timed out) before it completed"
  })

const resetByPeer = (reason: string) => new ConnectionReset({ code: "ECONNRESET", reason })

const toPieces = (pieces: Uint8Array | ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> =>
  pieces instanceof Uint8Array ? [pieces] : pieces

const connectWith = (options: MemoryOptions) =>
(endpoint: Endpoint): Effect.Effect<Connection, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.refuse === true) {
      return yield* new ConnectFailed({
        host: endpoint.host,
        port: endpoint.port,
        code: "ECONNREFUSED",
        reason: "connection refused (in-memory transport)"
      })
    }
    const outer = yield* Effect.scope
    const scope = yield* Scope.fork(outer)
    const toServer = MemoryPipe.make<never>()
    const toClient = MemoryPipe.make<ConnectionReset>()
    let writeFailure: ConnectionReset | undefined
    const fragment = options.fragment !== undefined && options.fragment > 0 ? Math.floor(options.fragment) : Infinity

    const reset = (error: ConnectionReset) => {
      writeFailure ??= error
      toClient.fail(error)
      toServer.abort()
    }

    const serverReader = ByteReader.make<never>(toServer.pull)
    const server: MemoryServer = {
      endpoint,
      readExactly: serverReader.readExactly,
      reads: serverReader.reads,
      write: (bytes) =>
        Effect.sync(() => {
          if (bytes.length <= fragment) return toClient.push([bytes])
          const pieces: Array<Uint8Array> = []
          for (let at = 0; at < bytes.length; at += fragment) pieces.push(bytes.subarray(at, at + fragment))
          toClient.push(pieces)
        }),
      end: Effect.sync(() => toClient.end()),
      reset: Effect.sync(() => reset(resetByPeer("connection reset by the in-memory server")))
    }

    yield* options.serve(server).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          if (Exit.isSuccess(exit)) {
            toClient.end()
            toServer.abort()
          } else if (!Cause.hasInterruptsOnly(exit.cause)) {
            reset(resetByPeer(`the in-memory server failed: ${Cause.pretty(exit.cause)}`))
          }
        })
      ),
      Effect.forkIn(outer)
    )

    // Set when a write was interrupted before it completed: later writes fail, and the close is a reset.
    let aborted = false

    // Closing our side: the server reads what we wrote, then the end (after an aborted write: nothing more,
    // as a reset drops it); our own operations fail.
    let closed = false
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        closed = true
        if (aborted) toServer.abort()
        else toServer.end()
        toClient.fail(closedLocally())
      })
    )

    const clientReader = ByteReader.make<ConnectionReset>(toClient.pull)

    const write = (pieces: Uint8Array | ReadonlyArray<Uint8Array>): Effect.Effect<void, TransportError> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(closedLocally())
        if (writeFailure !== undefined) return Effect.fail(writeFailure)
        if (aborted) return Effect.fail(abortedLocally())
        toServer.push(toPieces(pieces))
        return Effect.flatMap(toServer.awaitDrain(highWaterMark), () =>
          writeFailure !== undefined ? Effect.fail(writeFailure) : Effect.void).pipe(
            Effect.onInterrupt(() => Effect.sync(() => (aborted = true)))
          )
      })

    return {
      transport: "memory",
      tls: endpoint.tls === undefined
        ? undefined
        : { protocol: "memory", cipher: "none", servername: serverName(endpoint) },
      readExactly: clientReader.readExactly,
      reads: clientReader.reads,
      write,
      close: Scope.close(scope, Exit.void)
    } satisfies Connection
  })

/**
 * The in-memory `Transport` implementation for `options`, for callers that build their own Layer.
 *
 * @since 0.1.0
 */
export const makeMemory = (options: MemoryOptions): TransportShape =>
  Transport.of({ name: "memory", connect: connectWith(options) })

/**
 * Provides `Transport` backed by a scripted in-memory server: for tests of protocol code, with
 * fragmentation (`fragment`), refused connects (`refuse`), and EOF or reset at any point of the script.
 *
 * @since 0.1.0
 */
export const layerMemory = (options: MemoryOptions): Layer.Layer<Transport> =>
  Layer.succeed(Transport, makeMemory(options))
