import { assert, describe, it } from "@effect/vitest"
import { layerMemory, type MemoryServer, Transport } from "@effect-rtmp/transport"
import { Effect } from "effect"
import { createHmac } from "node:crypto"
import * as Handshake from "../src/Handshake.ts"

const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n))

/** Connects to a scripted in-memory server and runs the client handshake against it. */
const handshakeWith = (serve: (server: MemoryServer) => Effect.Effect<void, unknown>, fragment = 1) =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const connection = yield* transport.connect({ host: "memory", port: 1 })
    yield* Handshake.run(connection)
    return connection
  }).pipe(Effect.scoped, Effect.provide(layerMemory({ serve, fragment })))

describe("Handshake", () => {
  it("makes C0+C1: version 3, time 0, four zero bytes, random", () => {
    const c0c1 = Handshake.makeC0C1()
    assert.strictEqual(c0c1.length, 1537)
    assert.strictEqual(c0c1[0], 3)
    assert.deepStrictEqual([...c0c1.subarray(1, 9)], [0, 0, 0, 0, 0, 0, 0, 0])
    assert.notDeepEqual(Handshake.makeC0C1().subarray(9), c0c1.subarray(9))
  })

  it.effect("completes with a well-behaved server, delivered one byte at a time", () =>
    Effect.gen(function*() {
      const seen: { c0c1?: Uint8Array; c2?: Uint8Array; s1?: Uint8Array } = {}
      const after = new Uint8Array([1, 2, 3, 4, 5])
      const result = yield* Effect.gen(function*() {
        const transport = yield* Transport
        const connection = yield* transport.connect({ host: "memory", port: 1 })
        yield* Handshake.run(connection)
        // Nothing after S2 was consumed by the handshake.
        return yield* connection.readExactly(5)
      }).pipe(
        Effect.scoped,
        Effect.provide(layerMemory({
          fragment: 1,
          serve: (server) =>
            Effect.gen(function*() {
              const c0c1 = yield* server.readExactly(1537)
              seen.c0c1 = c0c1
              const s1 = random(1536)
              s1.fill(0, 0, 8)
              seen.s1 = s1
              yield* server.write(new Uint8Array([3, ...s1]))
              // S2 only after C2: the client must send C2 without waiting for S2.
              seen.c2 = yield* server.readExactly(1536)
              yield* server.write(c0c1.subarray(1))
              yield* server.write(after)
            })
        }))
      )
      assert.deepStrictEqual(result, after)
      assert.strictEqual(seen.c0c1![0], 3)
      assert.deepStrictEqual(seen.c2, seen.s1)
    }))

  it.effect("fails with HandshakeError when S0 is not version 3", () =>
    Effect.gen(function*() {
      const error = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([6, ...random(1536)]))
        })
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "HandshakeError")
      assert.match(error._tag === "HandshakeError" ? error.reason : "", /RTMPE/)
    }))

  it.effect("explains a TLS answer on a plain connection", () =>
    Effect.gen(function*() {
      const error = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([0x15, 3, 1, 0, 2, 2, 50]))
        })
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "HandshakeError")
      assert.match(error._tag === "HandshakeError" ? error.reason : "", /rtmps/)
    }))

  it.effect("tolerates an S2 that does not echo C1", () =>
    Effect.gen(function*() {
      yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([3, ...random(1536)]))
          yield* server.readExactly(1536)
          yield* server.write(random(1536))
        })
      )
    }))

  it.effect("reports EOF inside S1 as UnexpectedEof with the bytes received", () =>
    Effect.gen(function*() {
      const error = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([3, ...random(102)]))
        })
      ).pipe(Effect.flip)
      assert.strictEqual(error._tag, "UnexpectedEof")
      if (error._tag === "UnexpectedEof") {
        assert.strictEqual(error.expected, 1536)
        assert.strictEqual(error.received, 102)
        assert.strictEqual(error.phase, "handshake S1")
      }
    }))

  it.effect("reports EOF before S0 and inside S2 with their phases", () =>
    Effect.gen(function*() {
      const s0 = yield* handshakeWith((server) => Effect.asVoid(server.readExactly(1537))).pipe(Effect.flip)
      assert.deepInclude(s0, { _tag: "UnexpectedEof", expected: 1, received: 0, phase: "handshake S0" })
      const s2 = yield* handshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([3, ...random(1536)]))
          yield* server.readExactly(1536)
          yield* server.write(random(1000))
        }), 100).pipe(Effect.flip)
      assert.deepInclude(s2, { _tag: "UnexpectedEof", expected: 1536, received: 1000, phase: "handshake S2" })
    }))
})

// ---------------------------------------------------------------------------------------------------------
// The digest (Flash Player 9) handshake
// ---------------------------------------------------------------------------------------------------------

const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
/** The 32 bytes both Genuine keys end with, written out here rather than taken from the module. */
const keyTail = "f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae"
const fpPartial = ascii("Genuine Adobe Flash Player 001")
const fmsPartial = ascii("Genuine Adobe Flash Media Server 001")
const fpFull = new Uint8Array([...fpPartial, ...Buffer.from(keyTail, "hex")])
const fmsFull = new Uint8Array([...fmsPartial, ...Buffer.from(keyTail, "hex")])

/** The test's own digest arithmetic (node:crypto directly), independent of the module's. */
const oracle = {
  position: (block: Uint8Array, scheme: 0 | 1): number => {
    const base = scheme === 0 ? 8 : 772
    return ((block[base]! + block[base + 1]! + block[base + 2]! + block[base + 3]!) % 728) + base + 4
  },
  digest: (block: Uint8Array, position: number, key: Uint8Array): Uint8Array =>
    new Uint8Array(
      createHmac("sha256", key).update(block.subarray(0, position)).update(block.subarray(position + 32)).digest()
    ),
  sign: (block: Uint8Array, peerDigest: Uint8Array, fullKey: Uint8Array): Uint8Array => {
    const key = createHmac("sha256", fullKey).update(peerDigest).digest()
    return new Uint8Array(createHmac("sha256", key).update(block.subarray(0, 1504)).digest())
  }
}

/** Finds a digest the way a server does (nginx-rtmp tries 772 first, then 8), with the oracle's arithmetic. */
const oracleFind = (block: Uint8Array, key: Uint8Array): { scheme: 0 | 1; digest: Uint8Array } | undefined => {
  for (const scheme of [1, 0] as const) {
    const position = oracle.position(block, scheme)
    const digest = block.subarray(position, position + 32)
    if (hex(oracle.digest(block, position, key)) === hex(digest)) return { scheme, digest: digest.slice() }
  }
  return undefined
}

interface DigestServerSeen {
  c1?: Uint8Array
  clientDigest?: { scheme: 0 | 1; digest: Uint8Array } | undefined
  s1?: Uint8Array
  c2?: Uint8Array
  c2Signed?: boolean
}

/**
 * A scripted server doing what nginx-rtmp does: looks for the client's digest in C1 (FP key); when found,
 * answers with S1 = time, version 13.14.10.13, random, and its own digest (FMS key) at `scheme`, then S2 =
 * random signed from the client's digest (unless `unsignedS2`); when not found, echoes C0+C1 as S0+S1 and
 * C1 as S2 (nginx's old-style answer). Records what it saw, and whether C2 is signed from S1's digest.
 */
const digestServer = (seen: DigestServerSeen, options: { scheme?: 0 | 1; unsignedS2?: boolean } = {}) =>
(server: MemoryServer) =>
  Effect.gen(function*() {
    const c0c1 = yield* server.readExactly(1537)
    const c1 = c0c1.slice(1)
    seen.c1 = c1
    const client = oracleFind(c1, fpPartial)
    seen.clientDigest = client
    if (client === undefined) {
      yield* server.write(c0c1)
      seen.c2 = yield* server.readExactly(1536)
      yield* server.write(c1)
      return
    }
    const s1 = random(1536)
    s1.set([0, 0, 0, 0, 13, 14, 10, 13], 0)
    const at = oracle.position(s1, options.scheme ?? 0)
    const serverDigest = oracle.digest(s1, at, fmsPartial)
    s1.set(serverDigest, at)
    seen.s1 = s1
    const s2 = random(1536)
    if (options.unsignedS2 !== true) s2.set(oracle.sign(s2, client.digest, fmsFull), 1504)
    yield* server.write(new Uint8Array([3, ...s1]))
    yield* server.write(s2)
    const c2 = yield* server.readExactly(1536)
    seen.c2 = c2
    seen.c2Signed = hex(oracle.sign(c2, serverDigest, fpFull)) === hex(c2.subarray(1504))
    // Tells the client the server is done with C2 (the test reads it after the handshake)
    yield* server.write(trailer)
  })

const trailer = new Uint8Array([0x42])

const digestHandshakeWith = (
  serve: (server: MemoryServer) => Effect.Effect<void, unknown>,
  options: Handshake.Options,
  fragment = 1,
  readTrailer = false
) =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const connection = yield* transport.connect({ host: "memory", port: 1 })
    const outcome = yield* Handshake.run(connection, options)
    if (readTrailer) assert.deepStrictEqual(yield* connection.readExactly(1), trailer)
    return outcome
  }).pipe(Effect.scoped, Effect.provide(layerMemory({ serve, fragment })))

describe("Handshake, digest form", () => {
  it("the Genuine keys are the Flash Player and Flash Media Server keys", () => {
    assert.strictEqual(hex(Handshake.GenuineFpKey), hex(fpFull))
    assert.strictEqual(hex(Handshake.GenuineFmsKey), hex(fmsFull))
    assert.strictEqual(Handshake.GenuineFpKey.length, 62)
    assert.strictEqual(Handshake.GenuineFmsKey.length, 68)
  })

  for (const scheme of [0, 1] as const) {
    it(`a digest C1 (scheme ${scheme}) validates with an independent verifier`, () => {
      for (let i = 0; i < 50; i++) {
        const { bytes, digest } = Handshake.makeDigestC0C1(scheme)
        assert.strictEqual(bytes.length, 1537)
        assert.deepStrictEqual([...bytes.subarray(0, 9)], [3, 0, 0, 0, 0, 9, 0, 124, 2])
        const c1 = bytes.subarray(1)
        const position = oracle.position(c1, scheme)
        assert.strictEqual(Handshake.digestPosition(c1, scheme), position)
        assert.strictEqual(hex(c1.subarray(position, position + 32)), hex(digest))
        assert.strictEqual(hex(oracle.digest(c1, position, fpPartial)), hex(digest))
        assert.deepStrictEqual(Handshake.findDigest(c1, Handshake.GenuineFpKey, 30), { scheme, digest })
      }
    })
  }

  it("findDigest rejects a tampered C1, a simple C1, and a digest made with the other key", () => {
    const { bytes } = Handshake.makeDigestC0C1(0)
    const c1 = bytes.slice(1)
    const position = Handshake.digestPosition(c1, 0)
    const tampered = c1.slice()
    tampered[position === 12 ? 1000 : 12]! ^= 1
    assert.isUndefined(Handshake.findDigest(tampered, Handshake.GenuineFpKey, 30))
    assert.isUndefined(Handshake.findDigest(Handshake.makeC0C1().subarray(1), Handshake.GenuineFpKey, 30))
    assert.isUndefined(Handshake.findDigest(c1, Handshake.GenuineFmsKey, 36))
  })

  it("signResponse and isSignedResponse agree with the independent signer", () => {
    const peerDigest = random(32)
    const block = random(1536)
    Handshake.signResponse(block, peerDigest, Handshake.GenuineFpKey)
    assert.strictEqual(hex(block.subarray(1504)), hex(oracle.sign(block, peerDigest, fpFull)))
    assert.isTrue(Handshake.isSignedResponse(block, peerDigest, Handshake.GenuineFpKey))
    assert.isFalse(Handshake.isSignedResponse(block, peerDigest, Handshake.GenuineFmsKey))
    block[0]! ^= 1
    assert.isFalse(Handshake.isSignedResponse(block, peerDigest, Handshake.GenuineFpKey))
  })

  for (const [clientScheme, serverScheme] of [[0, 0], [1, 0], [0, 1]] as const) {
    it(`completes with a digest server (C1 scheme ${clientScheme}, S1 scheme ${serverScheme}): C2 signed, S2 verified`, () =>
      Effect.gen(function*() {
        const seen: DigestServerSeen = {}
        const outcome = yield* digestHandshakeWith(digestServer(seen, { scheme: serverScheme }), {
          digest: true,
          digestScheme: clientScheme
        }, 1, true)
        assert.deepStrictEqual(outcome, {
          c1: "digest",
          serverDigest: serverScheme,
          serverVersion: "13.14.10.13",
          c2: "signed",
          s2: "signed"
        })
        assert.strictEqual(seen.clientDigest?.scheme, clientScheme)
        assert.isTrue(seen.c2Signed)
      }).pipe(Effect.runPromise))
  }

  it.effect("a digest C1 to a server that does not know the form: the simple answer, C2 echoes S1", () =>
    Effect.gen(function*() {
      // A simple server: random S1, S2 echoes C1
      const seen: { s1?: Uint8Array; c2?: Uint8Array } = {}
      const outcome = yield* digestHandshakeWith((server) =>
        Effect.gen(function*() {
          const c0c1 = yield* server.readExactly(1537)
          const s1 = random(1536)
          seen.s1 = s1
          yield* server.write(new Uint8Array([3, ...s1]))
          seen.c2 = yield* server.readExactly(1536)
          yield* server.write(c0c1.subarray(1))
        }), { digest: true })
      assert.deepStrictEqual(outcome, {
        c1: "digest",
        serverDigest: undefined,
        serverVersion: `${seen.s1![4]}.${seen.s1![5]}.${seen.s1![6]}.${seen.s1![7]}`,
        c2: "echo",
        s2: "echo"
      })
      assert.deepStrictEqual(seen.c2, seen.s1)
    }))

  it.effect("a server that echoes C1 as S1 (nginx-rtmp's answer to an unknown digest) gets the simple C2", () =>
    Effect.gen(function*() {
      const seen: DigestServerSeen = {}
      // A C1 signed with the wrong key: the server finds no digest and answers old-style
      const outcome = yield* digestHandshakeWith((server) =>
        Effect.gen(function*() {
          const c0c1 = yield* server.readExactly(1537)
          yield* server.write(c0c1)
          seen.c2 = yield* server.readExactly(1536)
          seen.c1 = c0c1.slice(1)
          yield* server.write(c0c1.subarray(1))
        }), { digest: true })
      assert.deepStrictEqual(outcome, {
        c1: "digest",
        serverDigest: undefined,
        serverVersion: "9.0.124.2",
        c2: "echo",
        s2: "echo"
      })
      assert.deepStrictEqual(seen.c2, seen.c1)
    }))

  it.effect("tolerates an S2 that is neither signed nor an echo", () =>
    Effect.gen(function*() {
      const seen: DigestServerSeen = {}
      const outcome = yield* digestHandshakeWith(digestServer(seen, { unsignedS2: true }), { digest: true }, 100, true)
      assert.deepStrictEqual([outcome.c2, outcome.s2], ["signed", "other"])
      assert.isTrue(seen.c2Signed)
    }))

  it.effect("the simple form ignores a server digest and reports what it did", () =>
    Effect.gen(function*() {
      const seen: DigestServerSeen = {}
      const outcome = yield* digestHandshakeWith(digestServer(seen), {})
      // No digest in a simple C1: the scripted server answers old-style
      assert.isUndefined(seen.clientDigest)
      assert.deepStrictEqual(outcome, { c1: "simple", serverDigest: undefined, serverVersion: "0.0.0.0", c2: "echo", s2: "echo" })
    }))

  it.effect("reports EOF inside S2 of a digest handshake with its phase", () =>
    Effect.gen(function*() {
      const error = yield* digestHandshakeWith((server) =>
        Effect.gen(function*() {
          yield* server.readExactly(1537)
          yield* server.write(new Uint8Array([3, ...random(1536)]))
          yield* server.readExactly(1536)
          yield* server.write(random(10))
        }), { digest: true }, 100).pipe(Effect.flip)
      assert.deepInclude(error, { _tag: "UnexpectedEof", expected: 1536, received: 10, phase: "handshake S2" })
    }))
})
