/**
 * The RTMP handshake (RTMP spec 5.2), client side, in its simple (unsigned) form:
 *
 * ```
 * client                                  server
 *   C0 (version 3) + C1 (1536 bytes)  ->
 *                                     <-  S0 (version) + S1 (1536 bytes)
 *   C2 (echo of S1)                   ->
 *                                     <-  S2 (echo of C1)
 * ```
 *
 * C1 is `time (4 bytes) | zero (4 bytes) | random (1528 bytes)`. Chunking starts once S2 is read.
 *
 * @since 0.1.0
 */
import type { Connection, TransportError } from "@effect-rtmp/transport"
import { UnexpectedEof } from "@effect-rtmp/transport"
import { Effect } from "effect"
import { HandshakeError } from "./RtmpError.ts"

/**
 * The RTMP version this client speaks and expects in S0.
 *
 * @since 0.1.0
 */
export const RTMP_VERSION = 3

/**
 * The size of C1, S1, C2 and S2.
 *
 * @since 0.1.0
 */
export const HANDSHAKE_SIZE = 1536

/**
 * Builds C0 followed by C1, ready to send in one write: version 3, time 0 (the epoch of our chunk
 * timestamps), four zero bytes, 1528 random bytes.
 *
 * @since 0.1.0
 */
export const makeC0C1 = (): Uint8Array => {
  const bytes = new Uint8Array(1 + HANDSHAKE_SIZE)
  bytes[0] = RTMP_VERSION
  // bytes 1..8: time = 0, zero = 0 (already zeroed)
  globalThis.crypto.getRandomValues(bytes.subarray(9))
  return bytes
}

const describeS0 = (version: number): string => {
  const hex = `0x${version.toString(16).padStart(2, "0")}`
  if (version === 0x16 || version === 0x15) {
    return `the server answered with TLS (first byte ${hex}), not RTMP; use rtmps:// for this port`
  }
  if (version === 0x48) return `the server answered with HTTP (first byte ${hex}), not RTMP`
  if (version === 6 || version === 8 || version === 9) {
    return `the server asks for encrypted RTMP (RTMPE, S0 version ${version}), which is not supported`
  }
  return `S0 version is ${version} (${hex}), expected ${RTMP_VERSION}`
}

const inPhase = (phase: string) => (error: TransportError): TransportError =>
  error._tag === "UnexpectedEof"
    ? new UnexpectedEof({ expected: error.expected, received: error.received, phase })
    : error

/**
 * Runs the client side of the handshake on a fresh connection: sends C0+C1 in one write, reads S0 (must be
 * version 3, else `HandshakeError`) and S1, sends C2 (S1 echoed) as soon as S1 is read, then reads S2. An S2
 * that does not echo C1 is tolerated, as FFmpeg and GStreamer do, since several servers send anything there.
 * An end of stream gives `UnexpectedEof` with `phase` `"handshake S0"`, `"handshake S1"` or `"handshake S2"`.
 *
 * Use it once per connection, before any chunk is sent or read. It sets no time limit: wrap it in
 * `Effect.timeout` for one.
 *
 * @since 0.1.0
 */
export const run = (connection: Connection): Effect.Effect<void, HandshakeError | TransportError> =>
  Effect.gen(function*() {
    const c0c1 = makeC0C1()
    yield* connection.write(c0c1)

    const s0 = yield* connection.readExactly(1).pipe(Effect.mapError(inPhase("handshake S0")))
    const version = s0[0]!
    if (version !== RTMP_VERSION) {
      return yield* Effect.fail(new HandshakeError({ reason: describeS0(version) }))
    }

    const s1 = yield* connection.readExactly(HANDSHAKE_SIZE).pipe(Effect.mapError(inPhase("handshake S1")))
    // C2 echoes S1 (its time, time2 and random bytes), which every server accepts.
    yield* connection.write(s1)

    const s2 = yield* connection.readExactly(HANDSHAKE_SIZE).pipe(Effect.mapError(inPhase("handshake S2")))
    if (!echoes(s2, c0c1)) {
      yield* Effect.logDebug("RTMP handshake: S2 does not echo C1; tolerated")
    }
  })

/** Whether S2 carries C1's random bytes (bytes 8.. of C1). */
const echoes = (s2: Uint8Array, c0c1: Uint8Array): boolean => {
  for (let i = 8; i < HANDSHAKE_SIZE; i++) {
    if (s2[i] !== c0c1[i + 1]) return false
  }
  return true
}
