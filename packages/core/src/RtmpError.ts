/**
 * The protocol-level typed errors of effect-rtmp. Transport failures (`UnexpectedEof`, `ConnectFailed`,
 * `TlsError`, `ConnectionReset`, `Timeout`) live in `@effect-rtmp/transport` and are re-exported here.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The URL is not a usable `rtmp://` or `rtmps://` URL. `url` is masked (no stream key).
 *
 * @since 0.1.0
 */
export class InvalidUrl extends Schema.TaggedError<InvalidUrl>()("InvalidUrl", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `Invalid URL ${this.url}: ${this.reason}. Expected rtmp://host[:port]/app/streamKey or rtmps://...`
  }
}

/**
 * The RTMP handshake failed: wrong S0 version, or the server answered something that is not a handshake.
 *
 * @since 0.1.0
 */
export class HandshakeError extends Schema.TaggedError<HandshakeError>()("HandshakeError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `RTMP handshake failed: ${this.reason}. Is this an RTMP server (rtmps:// for TLS ports)?`
  }
}

/**
 * The server sent malformed data or data over our limits (chunk size, message size, AMF nesting).
 *
 * @since 0.1.0
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `The server sent invalid RTMP data: ${this.reason}.`
  }
}

/**
 * The server refused a command: `_error` to connect/createStream/publish, or an `onStatus` with level
 * `error`. `code` is the status code (`NetStream.Publish.BadName`, `NetConnection.Connect.Rejected`, ...),
 * `command` what was refused.
 *
 * @since 0.1.0
 */
export class Rejected extends Schema.TaggedError<Rejected>()("Rejected", {
  command: Schema.String,
  code: Schema.String,
  description: Schema.String
}) {
  override get message(): string {
    return `The server rejected ${this.command}: ${this.code}${this.description === "" ? "" : ` (${this.description})`}. ` +
      `Check the application name and the stream key.`
  }
}

/**
 * The media input cannot be published: not FLV, truncated, an unsupported codec, a missing file.
 * `source` names the input (a path or `stdin`), `offset` the byte position when known.
 *
 * @since 0.1.0
 */
export class InvalidMedia extends Schema.TaggedError<InvalidMedia>()("InvalidMedia", {
  source: Schema.String,
  reason: Schema.String,
  offset: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    const at = this.offset === undefined ? "" : ` at byte ${this.offset}`
    return `Cannot read media from ${this.source}${at}: ${this.reason}.`
  }
}
