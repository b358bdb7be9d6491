/**
 * Opening a connection: the TCP connect, then (for TLS) the handshake, each bounded by the endpoint's
 * timeout and each failing with a typed error of its own phase. Both real transports dial through here so
 * they agree on SNI, certificate verification and error mapping; they differ in how bytes move afterwards.
 *
 * @internal
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import type { Endpoint, TlsInfo } from "../Transport.ts"
import { fromNodeError, TlsError, Timeout, type TransportError } from "../TransportError.ts"
import { closeSocket, closeTimeoutMillis } from "./closeSocket.ts"
import { connectHost, serverName, timeoutMillis, tlsConnectOptions } from "./endpoint.ts"

/** A connected (and, for TLS, handshaken) socket, in paused mode with no data listener. */
export interface Dialed {
  readonly socket: net.Socket
  readonly tls: TlsInfo | undefined
  /**
   * Abortive close, at once: the TCP connection is reset (RST, the kernel drops what it still holds) and
   * the sockets destroyed. For a connection whose outgoing byte stream was cut in the middle of a write: it
   * cannot be continued, and a graceful close would only wait on a peer that may never read again. Call it
   * before the Scope's graceful close, which then finds the socket destroyed.
   */
  readonly abort: () => void
}

/** Resets (RST) and destroys a TCP socket; just destroys it when it has no TCP handle any more. */
const reset = (socket: net.Socket): void => {
  if (socket.destroyed) return
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}

/**
 * Keeps an `error` event that nobody is waiting for from crashing the process. The transports observe
 * errors through their own listeners and through `socket.errored`.
 */
const ignoreError = (_: Error): void => {}

/**
 * Waits for `event` on a socket that is connecting or handshaking. A failure, a close or the timeout
 * destroys the socket at once (a failed connect must not linger until the Scope closes).
 */
const settle = (
  socket: net.Socket,
  event: "connect" | "secureConnect",
  phase: "connect" | "tls",
  after: number,
  toError: (cause: unknown) => TransportError,
  abort: () => void
): Effect.Effect<void, TransportError> =>
  Effect.callback<void, TransportError>((resume) => {
    const cleanup = () => {
      socket.off(event, onReady)
      socket.off("error", onError)
      socket.off("close", onClose)
    }
    const onReady = () => {
      cleanup()
      resume(Effect.void)
    }
    const onError = (cause: Error) => {
      cleanup()
      resume(Effect.fail(toError(cause)))
    }
    const onClose = () => {
      cleanup()
      const cause = Object.assign(new Error(`socket closed during ${phase}`), { code: "ECONNRESET" })
      resume(Effect.fail(toError(cause)))
    }
    socket.once(event, onReady)
    socket.once("error", onError)
    socket.once("close", onClose)
    return Effect.sync(cleanup)
  }).pipe(
    Effect.timeoutOrElse({
      duration: after,
      orElse: () => Effect.fail(new Timeout({ phase, after }))
    }),
    Effect.onError(() => Effect.sync(abort))
  )

const tlsInfo = (socket: tls.TLSSocket, endpoint: Endpoint): TlsInfo => ({
  protocol: socket.getProtocol() ?? "unknown",
  cipher: socket.getCipher()?.name ?? "unknown",
  servername: serverName(endpoint),
  peerCertificate: socket.getPeerCertificate()
})

/**
 * Connects to `endpoint` (TCP, then TLS when `endpoint.tls` is set). The socket is closed gracefully when
 * the Scope closes (see `closeSocket`): the Scope's close waits for the peer's end, up to the endpoint's
 * `closeTimeout`.
 */
export const dial = (endpoint: Endpoint): Effect.Effect<Dialed, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const after = timeoutMillis(endpoint)
    const closeAfter = closeTimeoutMillis(endpoint)
    const isTls = endpoint.tls !== undefined
    const context = { host: endpoint.host, port: endpoint.port, tls: isTls }

    let tlsOnTop = false
    const raw = yield* Effect.acquireRelease(
      Effect.try({
        try: () => net.connect({ host: connectHost(endpoint), port: endpoint.port, noDelay: true }),
        catch: (cause) => fromNodeError(cause, { ...context, connected: false })
      }),
      // once TLS runs on top, closing the TLS socket closes this one too
      (socket) => tlsOnTop ? Effect.void : closeSocket(socket, undefined, closeAfter)
    )
    raw.on("error", ignoreError)
    raw.pause()
    yield* settle(
      raw,
      "connect",
      "connect",
      after,
      (cause) => fromNodeError(cause, { ...context, connected: false }),
      () => raw.destroy()
    )
    if (!isTls) return { socket: raw, tls: undefined, abort: () => reset(raw) }

    const secure = yield* Effect.acquireRelease(
      Effect.try({
        try: () => tls.connect(tlsConnectOptions(endpoint, raw)),
        catch: (cause) => tlsSetupError(endpoint, cause)
      }),
      (socket) => closeSocket(socket, raw, closeAfter)
    )
    tlsOnTop = true
    secure.on("error", ignoreError)
    secure.pause()
    yield* settle(
      secure,
      "secureConnect",
      "tls",
      after,
      (cause) => fromNodeError(cause, { ...context, connected: true }),
      () => {
        secure.destroy()
        raw.destroy()
      }
    )
    return {
      socket: secure,
      tls: tlsInfo(secure, endpoint),
      abort: () => {
        reset(raw)
        secure.destroy()
      }
    }
  })

/** A TLS context that cannot even be built (for example a CA that is not PEM) is a TLS failure. */
const tlsSetupError = (endpoint: Endpoint, cause: unknown): TlsError => {
  const e = cause as { code?: unknown; message?: unknown } | undefined
  return new TlsError({
    host: endpoint.host,
    code: typeof e?.code === "string" ? e.code : "ERR_TLS_SETUP",
    reason: typeof e?.message === "string" ? e.message : String(cause)
  })
}
