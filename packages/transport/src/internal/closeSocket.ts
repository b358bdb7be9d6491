/**
 * Graceful close of a Node socket: send our FIN (and the TLS close_notify), let Node flush what it still
 * holds, then release the socket. A peer that never lets the flush finish gets the socket destroyed after a
 * grace period, so a close never hangs and never leaks a socket.
 *
 * @internal
 */
import type * as net from "node:net"

/** How long a closing socket may take to flush its last bytes before it is destroyed. */
export const closeGraceMillis = 2_000

/**
 * Closes `socket` gracefully (idempotent). `underlying` is the TCP socket under a TLS socket, destroyed
 * with it.
 */
export const closeSocket = (socket: net.Socket, underlying?: net.Socket | undefined): void => {
  const release = () => {
    socket.destroy()
    underlying?.destroy()
  }
  if (socket.destroyed || socket.connecting || socket.pending) {
    release()
    return
  }
  if (socket.writableFinished) {
    release()
    return
  }
  const timer = setTimeout(release, closeGraceMillis)
  timer.unref()
  socket.once("finish", () => {
    clearTimeout(timer)
    release()
  })
  socket.once("close", () => {
    clearTimeout(timer)
    underlying?.destroy()
  })
  if (!socket.writableEnded) socket.end()
}
