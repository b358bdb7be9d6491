/**
 * The typed failures of a byte transport. Every failure of a socket, a TLS session or an exact read
 * is one of these, with fields a program can act on; none is ever reported as a plain end of stream.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * An exact read reached the end of the stream before it had all the bytes it asked for.
 * `expected` is the number of bytes asked for, `received` how many arrived before the end.
 * `phase` says what was being read when known (for example `"handshake S1"`).
 *
 * Transient: a retry on a new connection may succeed.
 *
 * @since 0.1.0
 */
export class UnexpectedEof extends Schema.TaggedError<UnexpectedEof>()("UnexpectedEof", {
  expected: Schema.Number,
  received: Schema.Number,
  phase: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const where = this.phase === undefined ? "" : ` while reading ${this.phase}`
    return `Unexpected EOF${where}: expected ${this.expected} bytes, received ${this.received} ` +
      `(${this.expected - this.received} missing). The server closed the connection; check the URL, ` +
      `the stream key and the server's logs.`
  }
}

/**
 * The TCP connection could not be made: refused, host not found, unreachable.
 * `code` is the system error code (`ECONNREFUSED`, `ENOTFOUND`, ...).
 *
 * @since 0.1.0
 */
export class ConnectFailed extends Schema.TaggedError<ConnectFailed>()("ConnectFailed", {
  host: Schema.String,
  port: Schema.Number,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Could not connect to ${this.host}:${this.port} (${this.code}: ${this.reason}). ` +
      `Check the host and port, and that the server is running.`
  }
}

/**
 * The TLS layer failed: certificate not trusted, host name mismatch, an alert from the peer,
 * no common protocol version. `code` is Node's TLS/OpenSSL code (for example
 * `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION`).
 *
 * Not retryable when it is a verification failure.
 *
 * @since 0.1.0
 */
export class TlsError extends Schema.TaggedError<TlsError>()("TlsError", {
  host: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `TLS failed with ${this.host}: ${this.code}: ${this.reason}. ` +
      `If the server uses a private CA, pass it with --ca FILE; --insecure skips verification.`
  }
}

/**
 * The connection was reset or broken by the peer while in use (`ECONNRESET`, `EPIPE`).
 *
 * @since 0.1.0
 */
export class ConnectionReset extends Schema.TaggedError<ConnectionReset>()("ConnectionReset", {
  code: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `The connection was reset or closed (${this.code}: ${this.reason}). A retry (--retries) may succeed.`
  }
}

/**
 * A wait took longer than allowed. `phase` names the wait (`"connect"`, `"tls"`, `"handshake"`,
 * `"write"`, `"createStream"`, ...), `after` is the limit in milliseconds.
 *
 * @since 0.1.0
 */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  phase: Schema.String,
  after: Schema.Number
}) {
  override get message(): string {
    return `Timed out after ${this.after} ms waiting for ${this.phase}. ` +
      `The server may be unreachable or stalled; raise --timeout or check the server.`
  }
}

/**
 * Any failure a transport can report.
 *
 * @since 0.1.0
 */
export type TransportError = UnexpectedEof | ConnectFailed | TlsError | ConnectionReset | Timeout

/**
 * Maps a Node.js socket/TLS error (an `Error` with a `code`) to the transport's typed errors.
 * Use it in every transport so that the same system failure gets the same typed error everywhere.
 *
 * @since 0.1.0
 */
export const fromNodeError = (
  error: unknown,
  context: { readonly host: string; readonly port: number; readonly connected: boolean; readonly tls: boolean }
): TransportError => {
  const e = error as { code?: unknown; message?: unknown }
  const code = typeof e?.code === "string" ? e.code : "UNKNOWN"
  const reason = typeof e?.message === "string" ? e.message : String(error)
  if (context.tls && isTlsCode(code)) {
    return new TlsError({ host: context.host, code, reason })
  }
  if (code === "ECONNRESET" || code === "EPIPE" || code === "ERR_STREAM_DESTROYED") {
    return new ConnectionReset({ code, reason })
  }
  if (!context.connected) {
    return new ConnectFailed({ host: context.host, port: context.port, code, reason })
  }
  return new ConnectionReset({ code, reason })
}

const isTlsCode = (code: string): boolean =>
  code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS") || code.includes("CERT") ||
  code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" || code === "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" ||
  code === "SELF_SIGNED_CERT_IN_CHAIN" || code === "HOSTNAME_MISMATCH"

/**
 * Whether a retry on a fresh connection may succeed: EOF, reset, timeout and refused connections are
 * transient; TLS failures are not (a certificate does not become trusted by trying again).
 *
 * @since 0.1.0
 */
export const isRetryable = (error: TransportError): boolean => error._tag !== "TlsError"
