/**
 * The RTMP handshake (RTMP spec 5.2), client side, in its simple (unsigned) form and in the digest form
 * Flash Player 9 and later (and FFmpeg, librtmp) use:
 *
 * ```
 * client                                  server
 *   C0 (version 3) + C1 (1536 bytes)  ->
 *                                     <-  S0 (version) + S1 (1536 bytes)
 *   C2 (1536 bytes)                   ->
 *                                     <-  S2 (1536 bytes)
 * ```
 *
 * Simple: C1 is `time (4 bytes) | zero (4 bytes) | random (1528 bytes)` and C2 echoes S1.
 *
 * Digest: C1 is `time | version (4 bytes, not zero: 9.0.124.2) | random` with a 32-byte HMAC-SHA256 of the
 * rest of C1 under the first 30 bytes of {@link GenuineFpKey} ("Genuine Adobe Flash Player 001") written
 * at the {@link digestPosition} of its scheme. A server that knows the form finds it, answers with an S1
 * carrying its own digest (under the first 36 bytes of {@link GenuineFmsKey}, "Genuine Adobe Flash Media
 * Server 001") and an S2 whose last 32 bytes sign the rest of S2 with a key derived from our digest
 * ({@link signResponse}); the client's C2 is signed the same way from S1's digest. A server that does not
 * know it sees random bytes and answers the simple way, to which the client answers the simple way too.
 *
 * Chunking starts once S2 is read.
 *
 * @since 0.1.0
 */
import type { Connection, TransportError } from "@effect-rtmp/transport"
import { UnexpectedEof } from "@effect-rtmp/transport"
import { Effect } from "effect"
import { fillArbitrary, nodeCrypto } from "./internal/nodeCrypto.ts"
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
  fillArbitrary(bytes.subarray(9))
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

/** The 32 bytes both Genuine keys end with. */
const keyTail: ReadonlyArray<number> = [
  0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57,
  0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae
]

/**
 * The Flash Player key: `"Genuine Adobe Flash Player 001"` (30 bytes) and 32 constant bytes. Its first 30
 * bytes sign a client's C1 digest; all 62 bytes derive the key that signs C2 from S1's digest.
 *
 * @since 0.1.0
 */
export const GenuineFpKey: Uint8Array = Uint8Array.from([
  ...new TextEncoder().encode("Genuine Adobe Flash Player 001"),
  ...keyTail
])

/**
 * The Flash Media Server key: `"Genuine Adobe Flash Media Server 001"` (36 bytes) and the same 32 constant
 * bytes. Its first 36 bytes sign a server's S1 digest; all 68 bytes derive the key that signs S2 from
 * the client's C1 digest.
 *
 * @since 0.1.0
 */
export const GenuineFmsKey: Uint8Array = Uint8Array.from([
  ...new TextEncoder().encode("Genuine Adobe Flash Media Server 001"),
  ...keyTail
])

/** The length of the part of {@link GenuineFpKey} that signs C1. */
const FpPartialLength = 30
/** The length of the part of {@link GenuineFmsKey} that signs S1. */
const FmsPartialLength = 36

/**
 * The length of a handshake digest (HMAC-SHA256).
 *
 * @since 0.1.0
 */
export const DIGEST_SIZE = 32

/**
 * The version a digest C1 announces (bytes 4-7): Flash Player 9.0.124.2, as FFmpeg sends. Any non-zero
 * version tells a server to look for the digest.
 *
 * @since 0.1.0
 */
export const DIGEST_CLIENT_VERSION: ReadonlyArray<number> = [9, 0, 124, 2]

/**
 * Where a 1536-byte C1 or S1 may carry its digest:
 *
 * - scheme 0: the sum of bytes 8-11, modulo 728, plus 12 (positions 12-739): what FFmpeg and Flash Player
 *   use for plain RTMP, and nginx-rtmp for its S1;
 * - scheme 1: the sum of bytes 772-775, modulo 728, plus 776 (positions 776-1503): the RTMPE layout.
 *
 * @since 0.1.0
 */
export type DigestScheme = 0 | 1

/**
 * The position of the digest in a 1536-byte C1 or S1 (without the version byte) for a scheme.
 *
 * @since 0.1.0
 */
export const digestPosition = (block: Uint8Array, scheme: DigestScheme): number => {
  const base = scheme === 0 ? 8 : 772
  return ((block[base]! + block[base + 1]! + block[base + 2]! + block[base + 3]!) % 728) + base + 4
}

const hmac = (key: Uint8Array, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const mac = nodeCrypto().createHmac("sha256", key)
  for (const part of parts) mac.update(part)
  return new Uint8Array(mac.digest())
}

/** The HMAC of a block without the 32 bytes at `position`. */
const digestOf = (block: Uint8Array, position: number, key: Uint8Array): Uint8Array =>
  hmac(key, block.subarray(0, position), block.subarray(position + DIGEST_SIZE, HANDSHAKE_SIZE))

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && nodeCrypto().timingSafeEqual(a, b)

/**
 * Writes the digest of a 1536-byte C1 (or S1) in place, at its scheme's position, signed with the first
 * `partialLength` bytes of `key` (30 of {@link GenuineFpKey} for a client, 36 of {@link GenuineFmsKey}
 * for a server), and returns it.
 *
 * @since 0.1.0
 */
export const imprintDigest = (
  block: Uint8Array,
  scheme: DigestScheme,
  key: Uint8Array = GenuineFpKey,
  partialLength: number = FpPartialLength
): Uint8Array => {
  const position = digestPosition(block, scheme)
  const digest = digestOf(block, position, key.subarray(0, partialLength))
  block.set(digest, position)
  return digest
}

/**
 * Looks for a valid digest in a 1536-byte C1 or S1 signed with the first `partialLength` bytes of `key`,
 * trying scheme 0 then scheme 1. Returns the scheme and the digest, or `undefined` when the block carries
 * none (a simple handshake: random bytes).
 *
 * @since 0.1.0
 */
export const findDigest = (
  block: Uint8Array,
  key: Uint8Array,
  partialLength: number
): { readonly scheme: DigestScheme; readonly digest: Uint8Array } | undefined => {
  for (const scheme of [0, 1] as const) {
    const position = digestPosition(block, scheme)
    const digest = block.subarray(position, position + DIGEST_SIZE)
    if (equal(digestOf(block, position, key.subarray(0, partialLength)), digest)) {
      return { scheme, digest: digest.slice() }
    }
  }
  return undefined
}

/**
 * Signs a 1536-byte C2 (or S2) in place: its last 32 bytes become the HMAC-SHA256 of its first 1504
 * bytes under `HMAC-SHA256(key, peerDigest)`, where `peerDigest` is the digest of the peer's S1 (or C1)
 * and `key` the full key of the side that signs ({@link GenuineFpKey} for C2, {@link GenuineFmsKey} for
 * S2).
 *
 * @since 0.1.0
 */
export const signResponse = (block: Uint8Array, peerDigest: Uint8Array, key: Uint8Array): Uint8Array => {
  const signature = hmac(hmac(key, peerDigest), block.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE))
  block.set(signature, HANDSHAKE_SIZE - DIGEST_SIZE)
  return block
}

/**
 * Whether a 1536-byte S2 (or C2) is signed, as {@link signResponse} does, from our own C1 (or S1) digest
 * with the peer's full key.
 *
 * @since 0.1.0
 */
export const isSignedResponse = (block: Uint8Array, ownDigest: Uint8Array, peerKey: Uint8Array): boolean =>
  equal(
    hmac(hmac(peerKey, ownDigest), block.subarray(0, HANDSHAKE_SIZE - DIGEST_SIZE)),
    block.subarray(HANDSHAKE_SIZE - DIGEST_SIZE, HANDSHAKE_SIZE)
  )

/**
 * Builds C0 followed by a digest C1: version 3, time 0, version {@link DIGEST_CLIENT_VERSION}, random
 * bytes, and the digest at the scheme's position (signed with the first 30 bytes of
 * {@link GenuineFpKey}). Returns the bytes and the digest (which S2's signature derives from).
 *
 * @since 0.1.0
 */
export const makeDigestC0C1 = (
  scheme: DigestScheme = 0
): { readonly bytes: Uint8Array; readonly digest: Uint8Array } => {
  const bytes = makeC0C1()
  bytes.set(DIGEST_CLIENT_VERSION, 5)
  const digest = imprintDigest(bytes.subarray(1), scheme)
  return { bytes, digest }
}

/**
 * Options of {@link run}.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * Send a digest C1 (see the module documentation) instead of the simple one. Default false. A server
   * that answers with a digest S1 gets a signed C2 and its S2 is checked; one that answers the simple
   * way gets the simple C2 (S1 echoed): the digest form costs nothing with servers that ignore it.
   */
  readonly digest?: boolean | undefined
  /** Where C1 carries its digest. Default 0 (FFmpeg's and Flash Player's choice for plain RTMP). */
  readonly digestScheme?: DigestScheme | undefined
}

/**
 * What a handshake did, for logs and tests.
 *
 * @since 0.1.0
 */
export interface Outcome {
  /** The form of C1 sent. */
  readonly c1: "simple" | "digest"
  /** The scheme of the valid server digest S1 carried (signed with the FMS key); undefined: none. */
  readonly serverDigest: DigestScheme | undefined
  /** The version field of S1 (bytes 4-7), dotted (`"13.14.10.13"` for nginx-rtmp, `"0.0.0.0"` if none). */
  readonly serverVersion: string
  /** The form of C2 sent: S1 echoed, or signed from S1's digest. */
  readonly c2: "echo" | "signed"
  /**
   * What S2 was: signed from our C1 digest, an echo of C1 (the simple form), or neither (tolerated, as
   * FFmpeg and GStreamer do for publishers: several servers send anything there).
   */
  readonly s2: "signed" | "echo" | "other"
}

/**
 * Runs the client side of the handshake on a fresh connection: sends C0+C1 in one write (simple, or
 * digest when `options.digest`), reads S0 (must be version 3, else `HandshakeError`) and S1, sends C2 as
 * soon as S1 is read (S1 echoed, or, when our C1 had a digest and S1 carries a valid server digest, a
 * random C2 signed from S1's digest), then reads S2. An S2 that neither echoes C1 nor carries the
 * expected signature is tolerated, as FFmpeg and GStreamer do for publishers, since several servers send
 * anything there. An end of stream gives `UnexpectedEof` with `phase` `"handshake S0"`, `"handshake S1"`
 * or `"handshake S2"`.
 *
 * Use it once per connection, before any chunk is sent or read. It sets no time limit: wrap it in
 * `Effect.timeout` for one.
 *
 * @since 0.1.0
 */
export const run = (
  connection: Connection,
  options?: Options
): Effect.Effect<Outcome, HandshakeError | TransportError> =>
  Effect.gen(function*() {
    const digestC1 = options?.digest === true ? makeDigestC0C1(options.digestScheme ?? 0) : undefined
    const c0c1 = digestC1?.bytes ?? makeC0C1()
    yield* connection.write(c0c1)

    const s0 = yield* connection.readExactly(1).pipe(Effect.mapError(inPhase("handshake S0")))
    const version = s0[0]!
    if (version !== RTMP_VERSION) {
      return yield* Effect.fail(new HandshakeError({ reason: describeS0(version) }))
    }

    const s1 = yield* connection.readExactly(HANDSHAKE_SIZE).pipe(Effect.mapError(inPhase("handshake S1")))
    const serverVersion = `${s1[4]}.${s1[5]}.${s1[6]}.${s1[7]}`
    // A server digest only means something in answer to ours (a simple server may echo C1 as S1)
    const server = digestC1 !== undefined ? findDigest(s1, GenuineFmsKey, FmsPartialLength) : undefined
    let c2: Uint8Array
    if (server !== undefined) {
      c2 = new Uint8Array(HANDSHAKE_SIZE)
      fillArbitrary(c2)
      signResponse(c2, server.digest, GenuineFpKey)
    } else {
      // C2 echoes S1 (its time, time2 and random bytes), which every server accepts.
      c2 = s1
    }
    yield* connection.write(c2)

    const s2 = yield* connection.readExactly(HANDSHAKE_SIZE).pipe(Effect.mapError(inPhase("handshake S2")))
    const s2Form = digestC1 !== undefined && isSignedResponse(s2, digestC1.digest, GenuineFmsKey)
      ? "signed"
      : echoes(s2, c0c1)
      ? "echo"
      : "other"
    if (s2Form === "other") {
      yield* Effect.logDebug("RTMP handshake: S2 neither echoes C1 nor is signed from its digest; tolerated")
    }
    return {
      c1: digestC1 === undefined ? "simple" : "digest",
      serverDigest: server?.scheme,
      serverVersion,
      c2: server === undefined ? "echo" : "signed",
      s2: s2Form
    } satisfies Outcome
  })

/** Whether S2 carries C1's random bytes (bytes 8.. of C1). */
const echoes = (s2: Uint8Array, c0c1: Uint8Array): boolean => {
  for (let i = 8; i < HANDSHAKE_SIZE; i++) {
    if (s2[i] !== c0c1[i + 1]) return false
  }
  return true
}
