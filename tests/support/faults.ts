/**
 * Fault-injecting servers for end-to-end tests: real `node:net` / `node:tls` servers on 127.0.0.1 that
 * misbehave in one precise way, and count every connection they see.
 *
 * - {@link startFaultServer}: the base, TCP or TLS (server side, with a certificate from `makeCertificates`),
 *   handing each accepted connection to a behaviour and recording it (accept, TLS done, bytes in and out,
 *   TLS records written, close). A plain TCP server given an `rtmps://` URL is a TLS server that never
 *   completes the TLS handshake;
 * - behaviours: {@link silent} (accepts, reads, never answers), {@link shortS1} (S0 and part of S1, then a
 *   close), {@link fragmentingProxy} (forwards to a real server, but cuts the first bytes it sends back into
 *   TLS records of 1-7 bytes with pauses), {@link stallingProxy} (forwards to a real server, then stops
 *   reading the client).
 *
 * Nothing here binds or connects anywhere but the loopback address.
 */
import * as net from "node:net"
import * as fs from "node:fs"
import * as tls from "node:tls"
import { listenOnLoopback, LOOPBACK } from "./process.ts"
import type { TestCertificates } from "./tls.ts"

/** What a fault server saw of one connection. Times are `Date.now()` values. */
export interface ConnectionRecord {
  /** 1 for the first connection. */
  readonly index: number
  readonly acceptedAt: number
  /** When the TLS handshake completed (TLS servers only; undefined when it never did). */
  secureAt: number | undefined
  /** When the connection closed (either side), undefined while open. */
  closedAt: number | undefined
  /** Bytes received from the client (after TLS decryption). */
  bytesIn: number
  /** Bytes sent to the client (before TLS encryption). */
  bytesOut: number
  /** Calls to `write` on the client socket: with TLS and no coalescing, each one is a TLS record. */
  writes: number
  /** Smallest and largest single write to the client, bytes. */
  smallestWrite: number
  largestWrite: number
  /** Free-form notes of the behaviour (e.g. when it stopped reading). */
  readonly notes: Record<string, number>
}

/** The client side of one accepted connection, as a behaviour sees it. */
export interface FaultConnection {
  /** The socket to talk to the client through: the TLS socket for TLS servers, else the TCP socket. */
  readonly socket: net.Socket
  /** The TCP socket (the same as `socket` without TLS). */
  readonly raw: net.Socket
  readonly record: ConnectionRecord
  /** Writes to the client, counting the write (one TLS record per call with TLS). */
  readonly write: (bytes: Uint8Array, callback?: (error?: Error | null) => void) => boolean
  /**
   * Opens a TCP connection to 127.0.0.1:`port` (a proxy's upstream), destroyed when the client's
   * connection closes or fails and when the server closes; an upstream error destroys the client's
   * connection (its clean end is the behaviour's business).
   */
  readonly dial: (port: number) => net.Socket
}

/** What a fault server does with each accepted connection (after TLS, for TLS servers). */
export type Behaviour = (connection: FaultConnection) => void

/** A running fault server. */
export interface FaultServer {
  readonly port: number
  /** TCP connections accepted so far. */
  connections(): number
  /** TLS handshakes completed so far. */
  secureConnections(): number
  /** One record per accepted connection, in accept order. */
  readonly records: ReadonlyArray<ConnectionRecord>
  /** Resolves once `n` connections were accepted and every one of them has closed. */
  allClosed(n: number, timeoutMs?: number): Promise<ReadonlyArray<ConnectionRecord>>
  /** Stops listening and destroys every connection (and every upstream connection a proxy opened). */
  close(): Promise<void>
}

/** Options of {@link startFaultServer}. */
export interface FaultServerOptions {
  /** Serve TLS with this certificate. Without it, plain TCP. */
  readonly tls?: TestCertificates | undefined
  readonly behaviour: Behaviour
}

/**
 * Starts a fault server on a free 127.0.0.1 port. Every accepted TCP connection is counted and recorded;
 * with `tls`, the server side of TLS runs on it (TLS 1.2 and 1.3) and `behaviour` gets the connection once
 * the TLS handshake is done.
 */
export const startFaultServer = async (options: FaultServerOptions): Promise<FaultServer> => {
  const sockets = new Set<net.Socket>()
  const records: Array<ConnectionRecord> = []
  let secure = 0
  const context = options.tls === undefined ? undefined : tls.createSecureContext({
    key: fs.readFileSync(options.tls.keyFile),
    cert: fs.readFileSync(options.tls.certFile)
  })
  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on("error", () => {})
    socket.on("close", () => sockets.delete(socket))
  }
  const server = net.createServer((raw) => {
    const record: ConnectionRecord = {
      index: records.length + 1,
      acceptedAt: Date.now(),
      secureAt: undefined,
      closedAt: undefined,
      bytesIn: 0,
      bytesOut: 0,
      writes: 0,
      smallestWrite: Infinity,
      largestWrite: 0,
      notes: {}
    }
    records.push(record)
    track(raw)
    raw.setNoDelay(true)
    raw.once("close", () => (record.closedAt ??= Date.now()))
    const start = (socket: net.Socket) => {
      socket.on("data", (chunk: Buffer) => (record.bytesIn += chunk.length))
      const write = (bytes: Uint8Array, callback?: (error?: Error | null) => void) => {
        record.writes++
        record.bytesOut += bytes.length
        record.smallestWrite = Math.min(record.smallestWrite, bytes.length)
        record.largestWrite = Math.max(record.largestWrite, bytes.length)
        return socket.write(bytes, callback)
      }
      const dial = (port: number) => {
        const upstream = net.connect({ host: LOOPBACK, port, noDelay: true })
        track(upstream)
        upstream.on("error", () => socket.destroy())
        socket.on("error", () => upstream.destroy())
        socket.on("close", () => upstream.destroy())
        return upstream
      }
      options.behaviour({ socket, raw, record, write, dial })
    }
    if (context === undefined) {
      start(raw)
      return
    }
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext: context })
    track(socket)
    socket.once("secure", () => {
      secure++
      record.secureAt = Date.now()
      start(socket)
    })
  })
  const listener = await listenOnLoopback(server, sockets)
  return {
    port: listener.port,
    connections: () => records.length,
    secureConnections: () => secure,
    records,
    allClosed: async (n, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs
      while (records.length < n || records.some((r) => r.closedAt === undefined)) {
        if (Date.now() > deadline) {
          throw new Error(
            `fault server: expected ${n} connections, all closed; saw ${records.length}, ` +
              `${records.filter((r) => r.closedAt === undefined).length} still open`
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      return records
    },
    close: listener.close
  }
}

// ---------------------------------------------------------------------------------------------------------
// Behaviours
// ---------------------------------------------------------------------------------------------------------

/** Accepts, reads everything the client sends, never answers and never closes. */
export const silent: Behaviour = ({ socket }) => {
  socket.resume()
}

/**
 * The RTMP handshake cut short: once C0+C1 (1537 bytes) have arrived, sends S0 (version 3) and only the
 * first `s1Bytes` (default 102) of the 1536 bytes of S1, then:
 * - `"end"` (default): ends its side cleanly (with TLS: close_notify, then FIN). The client must report
 *   `UnexpectedEof { expected: 1536, received: s1Bytes }` in S1;
 * - `"reset"`: 50 ms later, resets the TCP connection (RST) under the TLS layer. The client must report
 *   the reset (`ConnectionReset { code: "ECONNRESET" }`), not an end of stream: the real error.
 */
export const shortS1 = (s1Bytes = 102, ending: "end" | "reset" = "end"): Behaviour => ({ socket, raw, record, write }) => {
  let answered = false
  socket.on("data", () => {
    if (record.bytesIn < 1537 || answered) return
    answered = true
    const s0s1 = Buffer.concat([Buffer.from([3]), Buffer.alloc(s1Bytes, 0x5a)])
    if (ending === "end") {
      write(s0s1)
      socket.end()
    } else {
      write(s0s1, () => setTimeout(() => raw.resetAndDestroy(), 50))
    }
  })
}

/** A deterministic pseudo-random sequence (mulberry32), so a failing run can be replayed with its seed. */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Options of {@link fragmentingProxy}. */
export interface FragmentingOptions {
  /** The real server to forward to, on 127.0.0.1. */
  readonly upstreamPort: number
  /** How many of the first bytes from the server are cut into small records. Default 8192. */
  readonly fragmentBytes?: number | undefined
  /** Pieces are 1..`maxPiece` bytes. Default 7. */
  readonly maxPiece?: number | undefined
  /** A pause of 0..`maxPauseMs` ms after each piece (0: the next turn of the event loop). Default 3. */
  readonly maxPauseMs?: number | undefined
  /** Seed of the piece sizes and pauses (each connection adds its index). */
  readonly seed: number
}

/**
 * A proxy to a real server that sends the server's first `fragmentBytes` bytes (the whole RTMP handshake
 * and the first replies) to the client in pieces of 1-7 bytes, one `write` (so one TLS record) per piece,
 * with a pause of a few ms after each; later bytes pass through as they come. The client's bytes are
 * forwarded unchanged. Notes: `fragmented` (bytes cut into pieces), `pieces`.
 */
export const fragmentingProxy = (options: FragmentingOptions): Behaviour => ({ socket, record, write, dial }) => {
  const limit = options.fragmentBytes ?? 8192
  const maxPiece = options.maxPiece ?? 7
  const maxPause = options.maxPauseMs ?? 3
  const random = seededRandom(options.seed + record.index)
  const upstream = dial(options.upstreamPort)
  record.notes["fragmented"] = 0
  record.notes["pieces"] = 0

  // client -> server: unchanged, with backpressure
  socket.pipe(upstream)

  // server -> client: a queue pumped piece by piece, so that order holds across pauses
  const queue: Array<Buffer> = []
  let pumping = false
  let upstreamEnded = false
  const pump = async () => {
    if (pumping) return
    pumping = true
    try {
      while (queue.length > 0 && !socket.destroyed) {
        const head = queue[0]!
        const fragmented = record.notes["fragmented"]!
        if (fragmented >= limit) {
          queue.shift()
          write(head)
          continue
        }
        const size = Math.min(1 + Math.floor(random() * maxPiece), head.length, limit - fragmented)
        write(head.subarray(0, size))
        record.notes["fragmented"] = fragmented + size
        record.notes["pieces"]!++
        if (size === head.length) queue.shift()
        else queue[0] = head.subarray(size)
        const pause = Math.floor(random() * (maxPause + 1))
        await new Promise((resolve) => (pause === 0 ? setImmediate(resolve) : setTimeout(resolve, pause)))
      }
      if (upstreamEnded && queue.length === 0) socket.end()
    } finally {
      pumping = false
    }
  }
  upstream.on("data", (chunk: Buffer) => {
    queue.push(chunk)
    void pump()
  })
  upstream.on("end", () => {
    upstreamEnded = true
    void pump()
  })
}

/** Options of {@link stallingProxy}. */
export interface StallingOptions {
  /** The real server to forward to, on 127.0.0.1. */
  readonly upstreamPort: number
  /** After forwarding this many bytes from the client, stop reading it. */
  readonly stopAfter: number
}

/**
 * A proxy to a real server that, once it has forwarded `stopAfter` bytes from the client, stops reading
 * the client's socket (`pause()`, never resumed): the client keeps writing until the kernel's buffers on
 * both sides are full, then its writes block. The server's bytes keep flowing to the client. Notes:
 * `stoppedAt` (time), `forwarded` (bytes forwarded before the stop).
 */
export const stallingProxy = (options: StallingOptions): Behaviour => ({ socket, record, write, dial }) => {
  const upstream = dial(options.upstreamPort)
  upstream.on("data", (chunk: Buffer) => write(chunk))
  upstream.on("end", () => socket.end())
  let forwarded = 0
  socket.on("data", (chunk: Buffer) => {
    if (record.notes["stoppedAt"] !== undefined) return
    const room = options.stopAfter - forwarded
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room)
    upstream.write(part)
    forwarded += part.length
    record.notes["forwarded"] = forwarded
    if (forwarded >= options.stopAfter) {
      record.notes["stoppedAt"] = Date.now()
      socket.pause()
    }
  })
}

/** Options of {@link throttlingProxy}. */
export interface ThrottlingOptions {
  /** The real server to forward to, on 127.0.0.1. */
  readonly upstreamPort: number
  /** The rate at which the client's bytes are forwarded, read at each tick: bytes per second, Infinity for none. */
  readonly bytesPerSecond: () => number
}

/** Bytes the proxy holds from the client at most before it stops reading it (then the kernel's buffers fill). */
const throttleHold = 64 * 1024
/** Tick of the throttle's token bucket, ms, and how much it may save up (a burst of 100 ms). */
const throttleTick = 20
const throttleBurstSeconds = 0.1

/**
 * A proxy to a real server that forwards the client's bytes at `bytesPerSecond` (a token bucket with
 * 20 ms ticks and 100 ms of burst), like a slow uplink; the server's bytes go back unthrottled. It holds
 * at most 64 KiB of the client's bytes and stops reading the client beyond that, so that the client's
 * writes block as on a real slow link. Notes: `forwarded` (bytes).
 */
export const throttlingProxy = (options: ThrottlingOptions): Behaviour => ({ socket, record, write, dial }) => {
  const upstream = dial(options.upstreamPort)
  upstream.on("data", (chunk: Buffer) => write(chunk))
  upstream.on("end", () => socket.end())
  const held: Array<Buffer> = []
  let heldBytes = 0
  let tokens = 0
  let forwarded = 0
  const flush = () => {
    const rate = options.bytesPerSecond()
    while (held.length > 0 && (rate === Infinity || tokens >= 1)) {
      const head = held[0]!
      const n = rate === Infinity ? head.length : Math.min(head.length, Math.floor(tokens))
      upstream.write(head.subarray(0, n))
      if (n === head.length) held.shift()
      else held[0] = head.subarray(n)
      heldBytes -= n
      forwarded += n
      if (rate !== Infinity) tokens -= n
    }
    record.notes["forwarded"] = forwarded
    if (heldBytes < throttleHold) socket.resume()
  }
  let ending = false
  const timer = setInterval(() => {
    const rate = options.bytesPerSecond()
    tokens = rate === Infinity ? 0 : Math.min(tokens + (rate * throttleTick) / 1000, rate * throttleBurstSeconds)
    flush()
    // The client ended: forward what is held, then end the upstream.
    if (ending && heldBytes === 0) upstream.end()
  }, throttleTick)
  upstream.on("close", () => clearInterval(timer))
  socket.on("end", () => (ending = true))
  socket.on("data", (chunk: Buffer) => {
    held.push(chunk)
    heldBytes += chunk.length
    if (heldBytes >= throttleHold) socket.pause()
    flush()
  })
}
