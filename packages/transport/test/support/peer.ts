/**
 * The server side of a test connection, as a script sees it: the same few operations whether the server
 * is a real `node:net` / `node:tls` socket or the in-memory transport's `MemoryServer`.
 */
import { Effect, Stream } from "effect"
import type * as net from "node:net"
import type { MemoryServer } from "../../src/index.ts"

/** What a server script can do with one connection. */
export interface Peer {
  /** Reads exactly `n` bytes the client wrote; fails if the client closes first. */
  readonly readExactly: (n: number) => Effect.Effect<Uint8Array, unknown>
  /** Everything the client writes from now until it closes. */
  readonly readToEnd: Effect.Effect<Uint8Array, unknown>
  /** Sends bytes to the client (one write on the wire). */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, unknown>
  /** Clean end of the server's side (FIN). */
  readonly end: Effect.Effect<void>
  /**
   * Keeps the server's side open after the client's end (half-open), so the server never closes on its
   * own: a Node socket otherwise ends its side as soon as it reads the client's end. A no-op in memory.
   */
  readonly halfOpen: Effect.Effect<void>
  /** Abortive close (RST). */
  readonly reset: Effect.Effect<void>
  /**
   * Waits until the client's side of the connection is gone, without reading what the client sent: a
   * socket probes with a byte every 20 ms until a write fails (the client reset or destroyed its socket);
   * the in-memory server waits for the end of its reads (a reset drops what is queued).
   */
  readonly awaitGone: Effect.Effect<void>
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(chunks)

/**
 * A peer over a server-side Node socket. Reading happens only while a script reads (the socket is paused
 * otherwise), so a script that does not read lets the client's writes back up. `raw` is the TCP socket
 * under a TLS socket, for `reset`.
 */
export const nodePeer = (socket: net.Socket, raw: net.Socket = socket): Peer => {
  const chunks: Array<Buffer> = []
  let buffered = 0
  let ended = false
  let failure: Error | undefined
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const listener of [...listeners]) listener()
  }
  socket.on("data", (chunk: Buffer) => {
    chunks.push(chunk)
    buffered += chunk.length
    notify()
  })
  socket.pause()
  socket.on("end", () => {
    ended = true
    notify()
  })
  socket.on("error", (error) => {
    failure = error
    notify()
  })
  socket.on("close", () => {
    ended = true
    notify()
  })

  const take = (n: number): Uint8Array => {
    const all = Buffer.concat(chunks)
    chunks.length = 0
    if (all.length > n) chunks.push(all.subarray(n))
    buffered = all.length - n
    return all.subarray(0, n)
  }

  /** Reads (resumes the socket) until `ready()` says enough, then pauses again. */
  const readUntil = <A>(ready: () => A | undefined): Effect.Effect<A, Error> =>
    Effect.callback<A, Error>((resume) => {
      const check = () => {
        const value = ready()
        if (value !== undefined) {
          done()
          resume(Effect.succeed(value))
        } else if (failure !== undefined) {
          done()
          resume(Effect.fail(failure))
        } else if (ended) {
          done()
          resume(Effect.fail(new Error(`peer: the client closed with ${buffered} bytes buffered`)))
        }
      }
      const done = () => {
        listeners.delete(check)
        socket.pause()
      }
      listeners.add(check)
      socket.resume()
      check()
      return Effect.sync(done)
    })

  return {
    readExactly: (n) => readUntil(() => (buffered >= n ? take(n) : undefined)),
    readToEnd: readUntil(() => (ended ? take(buffered) : undefined)),
    write: (bytes) =>
      Effect.callback<void, Error>((resume) => {
        socket.write(bytes, (error) => resume(error ? Effect.fail(error) : Effect.void))
      }),
    end: Effect.sync(() => {
      socket.end()
    }),
    halfOpen: Effect.sync(() => {
      socket.allowHalfOpen = true
      raw.allowHalfOpen = true
    }),
    reset: Effect.sync(() => {
      raw.resetAndDestroy()
      if (socket !== raw) socket.destroy()
    }),
    awaitGone: Effect.callback<void>((resume) => {
      const probe = setInterval(() => {
        if (socket.destroyed || failure !== undefined) return done()
        socket.write(new Uint8Array(1), (error) => (error ? done() : undefined))
      }, 20)
      const done = () => {
        clearInterval(probe)
        resume(Effect.void)
      }
      return Effect.sync(() => clearInterval(probe))
    })
  }
}

/** A peer over the in-memory transport's server side. */
export const memoryPeer = (server: MemoryServer): Peer => ({
  readExactly: server.readExactly,
  readToEnd: Effect.map(Stream.runCollect(server.reads), concat),
  write: server.write,
  end: server.end,
  halfOpen: Effect.void,
  reset: server.reset,
  awaitGone: Stream.runDrain(server.reads)
})
