/**
 * A harness is one transport Layer plus a way to start a scripted server it can connect to. The
 * conformance suite is written once against this interface and run for every harness.
 */
import { Deferred, Effect, Exit, FiberSet, type Layer, type Scope } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import { type Endpoint, layerMemory, type MemoryServer, type Transport } from "../../src/index.ts"
import type { Certificates } from "./certificates.ts"
import { memoryPeer, nodePeer, type Peer } from "./peer.ts"

/** A started server: where to connect, and the result of the script for the first connection. */
export interface Served<A> {
  readonly endpoint: Endpoint
  readonly result: Effect.Effect<A, unknown>
}

/** A script run by the server for each connection. */
export type Script<A> = (peer: Peer) => Effect.Effect<A, unknown>

/** One transport under test and its servers. */
export interface Harness {
  readonly name: string
  readonly layer: Layer.Layer<Transport>
  /** Whether the transport talks to a real socket (TCP or TLS), whose close waits for the peer's end. */
  readonly real: boolean
  /** Starts a server running `script` for each connection; it stops when the Scope closes. */
  readonly serve: <A>(script: Script<A>) => Effect.Effect<Served<A>, never, Scope.Scope>
}

/** Listens on 127.0.0.1, port 0; closes the server and its connections when the Scope closes. */
export const listen = (
  onConnection: (socket: net.Socket) => void
): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: net.Server; sockets: Set<net.Socket> }>((resume) => {
      const sockets = new Set<net.Socket>()
      const server = net.createServer((socket) => {
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        socket.setNoDelay(true)
        onConnection(socket)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        server.close()
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ server }) => (server.address() as net.AddressInfo).port))

/**
 * The server side of TLS over an accepted TCP socket; calls `onSecure` after the handshake with the
 * TLS socket and the SNI name the client sent (`false` when none).
 */
export const acceptTls = (
  raw: net.Socket,
  certificates: Certificates,
  onSecure: (socket: tls.TLSSocket, servername: string | false) => void
): void => {
  const socket = new tls.TLSSocket(raw, {
    isServer: true,
    secureContext: tls.createSecureContext({ key: certificates.key, cert: certificates.cert })
  })
  socket.on("error", () => {})
  socket.once("secure", () => {
    const name = (socket as unknown as { servername?: string | false | null }).servername
    onSecure(socket, typeof name === "string" && name !== "" ? name : false)
  })
}

/**
 * A harness over a real server on 127.0.0.1: plain TCP, or TLS with the test certificates (the client
 * then connects to "localhost", trusting the test CA).
 */
export const realHarness = (
  name: string,
  layer: Layer.Layer<Transport>,
  certificates?: Certificates
): Harness => ({
  name,
  layer,
  real: true,
  serve: <A>(script: Script<A>) =>
    Effect.gen(function*() {
      const runFork = yield* FiberSet.makeRuntime<never, unknown, unknown>()
      const first = yield* Deferred.make<A, unknown>()
      let connections = 0
      const run = (socket: net.Socket, raw: net.Socket) => {
        const isFirst = connections++ === 0
        runFork(
          script(nodePeer(socket, raw)).pipe(
            // like the in-memory server: the end of the script ends the connection, a failure resets it
            Effect.onExit((exit) =>
              Effect.sync(() => {
                if (Exit.isSuccess(exit)) socket.end()
                else raw.resetAndDestroy()
              })
            ),
            Effect.exit,
            Effect.flatMap((exit) => (isFirst ? Deferred.done(first, exit) : Effect.void))
          )
        )
      }
      const port = yield* listen((raw) => {
        if (certificates === undefined) run(raw, raw)
        else acceptTls(raw, certificates, (socket) => run(socket, raw))
      })
      const endpoint: Endpoint = certificates === undefined
        ? { host: "127.0.0.1", port }
        : { host: "localhost", port, tls: { ca: [certificates.ca] } }
      return { endpoint, result: Deferred.await(first) }
    })
})

/** A harness over the in-memory transport; each `serve` gets its own port number. */
export const memoryHarness = (name: string, options: { readonly fragment?: number } = {}): Harness => {
  const scripts = new Map<number, (server: MemoryServer) => Effect.Effect<void, unknown>>()
  let nextPort = 40_000
  return {
    name,
    real: false,
    layer: layerMemory({
      ...options,
      serve: (server) => {
        const script = scripts.get(server.endpoint.port)
        return script === undefined ? Effect.die(new Error(`no server on port ${server.endpoint.port}`)) : script(server)
      }
    }),
    serve: <A>(script: Script<A>) =>
      Effect.gen(function*() {
        const first = yield* Deferred.make<A, unknown>()
        const port = nextPort++
        let connections = 0
        scripts.set(port, (server) => {
          const isFirst = connections++ === 0
          return script(memoryPeer(server)).pipe(
            Effect.onExit((exit) => (isFirst ? Deferred.done(first, exit) : Effect.void)),
            Effect.asVoid
          )
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => scripts.delete(port)))
        return { endpoint: { host: "memory.test", port }, result: Deferred.await(first) }
      })
  }
}

