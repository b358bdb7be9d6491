/**
 * Connection establishment on the real transports (coroutine and blocking): refused connects, TLS
 * verification, SNI, handshake timeouts, and TLS failures that must never look like an EOF.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, type Scope } from "effect"
import type * as net from "node:net"
import { afterAll } from "vitest"
import { type Endpoint, layerBlocking, layerCoroutine, Transport } from "../src/index.ts"
import { makeCertificates } from "./support/certificates.ts"
import { acceptTls, listen } from "./support/harness.ts"

const certificates = makeCertificates()
afterAll(() => certificates.dispose())

const connect = (endpoint: Endpoint) => Effect.flatMap(Transport, (transport) => transport.connect(endpoint))

/** A TLS server with the test certificate that greets with "hi" and records the SNI name of each client. */
const tlsServer = Effect.gen(function*() {
  const servernames: Array<string | false> = []
  const port = yield* listen((raw) =>
    acceptTls(raw, certificates, (socket, servername) => {
      servernames.push(servername)
      socket.write("hi")
    })
  )
  return { port, servernames }
})

/** A port where nothing listens (it did a moment ago). */
const closedPort = Effect.scoped(listen(() => {}))

const suite = (name: string, layer: Layer.Layer<Transport>) =>
  describe(name, () => {
    const test = (title: string, body: () => Effect.Effect<void, unknown, Transport | Scope.Scope>) =>
      it.live(title, () => body().pipe(Effect.provide(layer)), 20_000)

    test("a refused connect fails with ConnectFailed { code: ECONNREFUSED }", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const error = yield* Effect.flip(connect({ host: "127.0.0.1", port }))
        assert.deepInclude(error, { _tag: "ConnectFailed", host: "127.0.0.1", port, code: "ECONNREFUSED" })
      }))

    test("an unknown host fails with ConnectFailed", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(connect({ host: "no-such-host.invalid", port: 1935 }))
        assert.strictEqual(error._tag, "ConnectFailed")
        if (error._tag !== "ConnectFailed") return
        assert.include(["ENOTFOUND", "EAI_AGAIN"], error.code)
        assert.strictEqual(error.host, "no-such-host.invalid")
      }))

    test("TLS: the connection reports protocol, cipher and the SNI name, and carries bytes", () =>
      Effect.gen(function*() {
        const server = yield* tlsServer
        const connection = yield* connect({ host: "localhost", port: server.port, tls: { ca: [certificates.ca] } })
        assert.deepStrictEqual(new TextDecoder().decode(yield* connection.readExactly(2)), "hi")
        assert.strictEqual(connection.tls?.servername, "localhost")
        assert.match(connection.tls?.protocol ?? "", /^TLSv1\.[23]$/)
        assert.match(connection.tls?.cipher ?? "", /^[A-Z0-9_-]{6,}$/)
      }))

    test("TLS: SNI is the host name, and is never sent for an IP literal", () =>
      Effect.gen(function*() {
        const server = yield* tlsServer
        const byName = yield* connect({ host: "localhost", port: server.port, tls: { ca: [certificates.ca] } })
        yield* byName.readExactly(2)
        // the certificate also names IP 127.0.0.1, so verification passes without SNI
        const byIp = yield* connect({ host: "127.0.0.1", port: server.port, tls: { ca: [certificates.ca] } })
        yield* byIp.readExactly(2)
        assert.deepStrictEqual(server.servernames, ["localhost", false])
        assert.strictEqual(byIp.tls?.servername, undefined)
      }))

    test("TLS: an untrusted certificate fails with TlsError, not an EOF", () =>
      Effect.gen(function*() {
        const server = yield* tlsServer
        const error = yield* Effect.flip(connect({ host: "localhost", port: server.port, tls: {} }))
        assert.deepInclude(error, { _tag: "TlsError", host: "localhost", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
      }))

    test("TLS: insecure accepts an untrusted certificate", () =>
      Effect.gen(function*() {
        const server = yield* tlsServer
        const connection = yield* connect({ host: "localhost", port: server.port, tls: { insecure: true } })
        assert.deepStrictEqual(new TextDecoder().decode(yield* connection.readExactly(2)), "hi")
        assert.deepStrictEqual(server.servernames, ["localhost"])
      }))

    test("TLS: a certificate for another name fails with TlsError", () =>
      Effect.gen(function*() {
        const server = yield* tlsServer
        const error = yield* Effect.flip(connect({
          host: "localhost",
          port: server.port,
          tls: { ca: [certificates.ca], servername: "other.invalid" }
        }))
        assert.deepInclude(error, { _tag: "TlsError", code: "ERR_TLS_CERT_ALTNAME_INVALID" })
      }))

    test("TLS: a server that accepts TCP but never answers the handshake times out in phase tls", () =>
      Effect.gen(function*() {
        const port = yield* listen(() => {})
        const started = Date.now()
        const error = yield* Effect.flip(connect({ host: "localhost", port, tls: {}, timeout: "300 millis" }))
        assert.deepInclude(error, { _tag: "Timeout", phase: "tls", after: 300 })
        assert.isBelow(Date.now() - started, 2_000)
      }))

    test("TLS: a plain TCP server on a TLS endpoint fails with TlsError", () =>
      Effect.gen(function*() {
        const port = yield* listen((socket: net.Socket) => {
          socket.once("data", () => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"))
        })
        const error = yield* Effect.flip(connect({ host: "localhost", port, tls: {} }))
        assert.deepInclude(error, { _tag: "TlsError", code: "ERR_SSL_WRONG_VERSION_NUMBER" })
      }))

    test("TLS: a server that closes during the handshake fails with ConnectionReset, not an EOF", () =>
      Effect.gen(function*() {
        const port = yield* listen((socket: net.Socket) => {
          socket.once("data", () => socket.end())
        })
        const error = yield* Effect.flip(connect({ host: "localhost", port, tls: {} }))
        assert.deepInclude(error, { _tag: "ConnectionReset", code: "ECONNRESET" })
      }))

    test("TLS: a CA that is not PEM fails with TlsError", () =>
      Effect.gen(function*() {
        const server = yield* tlsServer
        const error = yield* Effect.flip(connect({ host: "localhost", port: server.port, tls: { ca: ["not a certificate"] } }))
        assert.strictEqual(error._tag, "TlsError")
      }))
  })

suite("coroutine", layerCoroutine)
suite("blocking", layerBlocking)
