/**
 * Graceful close of a Node socket, in the order TCP needs so that the peer loses nothing:
 *
 * 1. stop writing: `end()` sends our FIN (and, for TLS, the close_notify) after everything still queued;
 * 2. keep reading, discarding, until the peer closes its side too;
 * 3. release the socket.
 *
 * Step 2 matters: closing a socket whose kernel receive buffer still holds unread bytes (or that receives
 * more after the close) makes the kernel answer with a reset (RST) instead of a normal close, and a peer
 * that gets a reset may drop what it had received but not yet processed (nginx-rtmp lost the last second of
 * a publish that way). A peer that never closes gets the socket destroyed after a bound, so a close never
 * hangs and never leaks a socket; only then can a reset still happen.
 *
 * @internal
 */
import { Duration, Effect } from "effect"
import type * as net from "node:net"
import type { Endpoint } from "../Transport.ts"

/**
 * Default bound on a graceful close: how long a closing socket may take to flush its last bytes and to see
 * the peer's end before it is destroyed.
 */
export const closeGraceMillis = 2_000

/** The bound on a graceful close for `endpoint`, in milliseconds. */
export const closeTimeoutMillis = (endpoint: Endpoint): number =>
  endpoint.closeTimeout === undefined ? closeGraceMillis : Duration.toMillis(endpoint.closeTimeout)

/**
 * Closes `socket` gracefully (idempotent: a second call waits for the same close). `underlying` is the TCP
 * socket under a TLS socket, destroyed with it. Completes once the socket is closed: when the peer has
 * closed its side, or `graceMillis` after the call at the latest. Never fails.
 */
export const closeSocket = (
  socket: net.Socket,
  underlying: net.Socket | undefined,
  graceMillis: number
): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const release = () => {
      socket.destroy()
      underlying?.destroy()
    }
    if (socket.destroyed || socket.connecting || socket.pending) {
      release()
      resume(Effect.void)
      return
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const onClose = () => {
      if (timer !== undefined) clearTimeout(timer)
      socket.off("readable", discard)
      underlying?.destroy()
      resume(Effect.void)
    }
    // Both directions done (our FIN sent, the peer's end read): nothing can reset any more.
    const maybeRelease = () => {
      if (socket.readableEnded && socket.writableFinished) release()
    }
    // Reads everything the peer still sends and drops it. A `readable` listener works whatever mode the
    // socket was in (the transports leave it paused) and reaches the end of the stream, where Node emits
    // `end`.
    function discard() {
      while (socket.read() !== null) {
        // discard
      }
    }
    socket.once("close", onClose)
    socket.once("end", maybeRelease)
    socket.once("finish", maybeRelease)
    socket.on("readable", discard)
    // A ref'd timer: the close is waited for, and the timer is cleared as soon as the socket closes, so it
    // never holds the event loop beyond the bound.
    timer = setTimeout(release, graceMillis)
    if (!socket.writableEnded) socket.end()
    discard()
    maybeRelease()
    // Interrupted while waiting (possible only outside a finalizer): the close goes on in the background,
    // still bounded by the timer.
  })
