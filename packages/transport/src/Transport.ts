/**
 * The `Transport` service: opens a byte connection (TCP or TLS) to an endpoint. It knows nothing of RTMP.
 *
 * Three Layers provide it:
 * - `layerCoroutine` (./Coroutine.ts): non-blocking, on Effect's platform socket, reads as a Stream;
 * - `layerBlocking` (./Blocking.ts): java.io style on node:net / node:tls in paused mode, exact reads;
 * - `layerMemory` (./Memory.ts): a scripted in-memory server for tests.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Scope, Stream } from "effect"
import { Context } from "effect"
import type { PeerCertificate } from "node:tls"
import type { TransportError } from "./TransportError.ts"

/**
 * Which implementation carries a connection.
 *
 * @since 0.1.0
 */
export type TransportName = "coroutine" | "blocking" | "memory"

/**
 * TLS settings for an `rtmps` endpoint. Certificates are verified by default.
 *
 * @since 0.1.0
 */
export interface TlsOptions {
  /** Extra trusted CA certificates, PEM text. Added to Node's default roots. */
  readonly ca?: ReadonlyArray<string> | undefined
  /** Skip certificate verification. An explicit opt-in only. */
  readonly insecure?: boolean | undefined
  /** SNI server name. Defaults to the host when it is a name; never sent for IP literals. */
  readonly servername?: string | undefined
}

/**
 * Where to connect. `tls` present means TLS over TCP.
 *
 * @since 0.1.0
 */
export interface Endpoint {
  readonly host: string
  readonly port: number
  readonly tls?: TlsOptions | undefined
  /** Limit for the TCP connect and for the TLS handshake, each. Default: 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /**
   * Bound on a graceful close: how long closing may wait for our last bytes to be flushed and for the
   * peer to close its side, before the connection is destroyed anyway. Default: 2 seconds.
   */
  readonly closeTimeout?: Duration.Input | undefined
}

/**
 * What the TLS session agreed on, when the connection is TLS.
 *
 * @since 0.1.0
 */
export interface TlsInfo {
  readonly protocol: string
  readonly cipher: string
  readonly servername: string | undefined
  /** The certificate the server presented (subject, issuer, subjectaltname, valid_from/valid_to, ...). */
  readonly peerCertificate?: PeerCertificate | undefined
}

/**
 * An open connection. Reads and writes may run concurrently with each other (one fiber reading,
 * one writing), but two reads (or two writes) must not overlap.
 *
 * @since 0.1.0
 */
export interface Connection {
  readonly transport: TransportName
  /** TLS details once the TLS handshake is done; undefined for plain TCP. */
  readonly tls: TlsInfo | undefined
  /**
   * Reads exactly `n` bytes. Fails with `UnexpectedEof { expected: n, received }` when the stream
   * ends first.
   */
  readonly readExactly: (n: number) => Effect.Effect<Uint8Array, TransportError>
  /**
   * The remaining incoming bytes as a Stream of non-empty pieces, starting after what
   * `readExactly` consumed. Ends normally when the peer closes cleanly. Take it at most once.
   */
  readonly reads: Stream.Stream<Uint8Array, TransportError>
  /**
   * Writes the pieces in order, as one logical write. Completes when the bytes have been handed to
   * the kernel (backpressure: a peer that stops reading makes this wait).
   *
   * Interrupting a write that has not completed (a timeout, the fiber interrupted) aborts the outgoing
   * byte stream: part of the pieces may already be on the wire, so it cannot go on. Every later write
   * fails with `ConnectionReset`; reads go on; and closing resets the TCP connection at once (RST) instead
   * of the graceful close, which would wait on a peer that stopped reading.
   */
  readonly write: (pieces: Uint8Array | ReadonlyArray<Uint8Array>) => Effect.Effect<void, TransportError>
  /**
   * Closes the connection (idempotent). Also done when the connect Scope closes.
   *
   * The close is graceful and waited for: our side stops writing (a FIN after every byte already written),
   * then incoming bytes are read and discarded until the peer closes its side, and only then is the
   * connection released. Closing with unread incoming bytes would otherwise make the kernel reset the
   * connection, and a peer that gets a reset may drop data it received but had not processed yet. So when
   * `close` completes, the peer has everything that was written (a publisher can exit). A peer that never
   * closes gets the connection destroyed after `Endpoint.closeTimeout` (2 s by default): `close` never
   * waits longer, and holds nothing (timers, sockets) after it completes.
   *
   * After an aborted write (see `write`) the close is a reset at once instead.
   */
  readonly close: Effect.Effect<void>
}

/**
 * The service shape.
 *
 * @since 0.1.0
 */
export interface TransportShape {
  readonly name: TransportName
  /** Opens a connection; it is closed when the Scope closes. */
  readonly connect: (endpoint: Endpoint) => Effect.Effect<Connection, TransportError, Scope.Scope>
}

/**
 * The Transport service. Provide one of `layerCoroutine`, `layerBlocking` or `layerMemory`.
 *
 * @since 0.1.0
 */
export class Transport extends Context.Service<Transport, TransportShape>()("@effect-rtmp/transport/Transport") {}
