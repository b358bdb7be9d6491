/**
 * A scripted RTMP server for tests, on the in-memory transport: it does the server side of the simple
 * handshake, decodes the client's chunks with our ChunkDecoder and its AMF0 commands, and answers the way
 * nginx-rtmp does (Window Acknowledgement Size 5000000, Set Peer Bandwidth, Set Chunk Size 4096, `_result`
 * NetConnection.Connect.Success, `_result` of createStream with message stream id 1, Stream Begin +
 * `onStatus` NetStream.Publish.Start). Every message the client sends is recorded, per connection.
 *
 * Behaviour changes through {@link Behaviour}: reject or ignore any of the three awaited commands, end the
 * connection after part of S1, another window size, and hooks to send anything (pings, errors) at any point.
 *
 * Each connection's script runs in a detached fiber that reads until the client closes, so that nothing the
 * client wrote is lost when its Scope closes: after the client is done, `yield* server.settled` and read
 * `messages`.
 */
import { layerMemory, type MemoryServer, type Transport } from "@effect-rtmp/transport"
import { Cause, Effect, Exit, type Layer, Stream } from "effect"
import * as Amf0 from "../../src/Amf0.ts"
import * as ChunkDecoder from "../../src/ChunkDecoder.ts"
import * as ChunkEncoder from "../../src/ChunkEncoder.ts"
import { type DecodedMessage, MessageType, type RtmpMessage } from "../../src/Message.ts"
import * as ProtocolControl from "../../src/ProtocolControl.ts"

/** What nginx-rtmp answers to connect: `fmsVer`/`capabilities`, then the status object. */
export const connectProperties: Amf0.Amf0Object = { fmsVer: "FMS/3,0,1,123", capabilities: 31 }

/** A status object as servers send them in `_error` and `onStatus`. */
export interface Status {
  readonly level: string
  readonly code: string
  readonly description: string
}

/**
 * How the server answers one of the awaited commands: as nginx-rtmp does (`"accept"`), not at all
 * (`"ignore"`), with `_error` (transaction id of the command) or with an `onStatus` (on the message stream of
 * the command).
 */
export type Reply =
  | "accept"
  | "ignore"
  | { readonly _error: Status }
  | { readonly onStatus: Status }

/** `_error` NetConnection.Connect.Rejected, what a server sends to a connect with a wrong app. */
export const connectRejected: Reply = {
  _error: { level: "error", code: "NetConnection.Connect.Rejected", description: "Connection rejected." }
}

/** `onStatus` NetStream.Publish.BadName, what nginx-rtmp sends when the stream name is already published. */
export const publishBadName: Reply = {
  onStatus: { level: "error", code: "NetStream.Publish.BadName", description: "Already publishing" }
}

/** A message the client sent, decoded. `amf` is the AMF0 body of commands (type 20) and data (type 18). */
export interface ClientMessage {
  /** 1-based number of the connection it came on. */
  readonly connection: number
  readonly typeId: number
  readonly streamId: number
  readonly timestamp: number
  readonly chunkStreamId: number
  readonly payload: Uint8Array
  readonly amf: ReadonlyArray<Amf0.Amf0Value> | undefined
  /** The command name (first AMF0 value of a command message), else undefined. */
  readonly command: string | undefined
}

/** The server side of one connection, given to hooks. */
export interface ServerConnection {
  /** 1-based number of this connection. */
  readonly number: number
  /** The client's messages on this connection so far. */
  readonly messages: ReadonlyArray<ClientMessage>
  /** Bytes written to the client after the handshake (what its acknowledgements count). */
  readonly bytesSent: () => number
  /** Chunks and writes messages with the server's encoder, each message in its own write. */
  readonly send: (...messages: ReadonlyArray<RtmpMessage>) => Effect.Effect<void>
  /** Sends an AMF0 command message (type 20). */
  readonly sendCommand: (
    values: ReadonlyArray<Amf0.Amf0Value>,
    options?: { readonly streamId?: number; readonly chunkStreamId?: number }
  ) => Effect.Effect<void>
  /** Sends `onStatus(0, null, status)` on a message stream. */
  readonly sendStatus: (streamId: number, status: Status) => Effect.Effect<void>
  /** Clean EOF towards the client. */
  readonly end: Effect.Effect<void>
  /** Connection reset towards the client. */
  readonly reset: Effect.Effect<void>
  /** The underlying in-memory server side. */
  readonly raw: MemoryServer
}

/**
 * The server's behaviour; everything optional, the defaults being nginx-rtmp's.
 */
export interface Behaviour {
  /** During the handshake: send S0 and this many bytes of S1, then end the connection. */
  readonly closeAfterS1Bytes?: number | undefined
  /**
   * Connections (by 1-based number and endpoint) to end at once, without answering C0+C1: the client's
   * handshake fails with `UnexpectedEof`. For failover tests.
   */
  readonly hangUp?: ((number: number, endpoint: MemoryServer["endpoint"]) => boolean) | undefined
  /**
   * Acknowledge the client's bytes as nginx-rtmp does: once the client sent Window Acknowledgement Size,
   * an Acknowledgement (bytes received after the handshake) each time that many more bytes arrived.
   * Default false.
   */
  readonly acknowledge?: boolean | undefined
  /** With `acknowledge`: acknowledge every this many bytes, whatever window the client asked for. */
  readonly acknowledgeEvery?: number | undefined
  /**
   * Answer the client's Ping Requests with Ping Responses, as nginx-rtmp does (a function chooses by the
   * 1-based number of the ping on its connection). Default true.
   */
  readonly answerPings?: boolean | ((ping: number) => boolean) | undefined
  /** Window Acknowledgement Size sent after connect. Default 5000000. */
  readonly windowAckSize?: number | undefined
  /** Set Peer Bandwidth size sent after connect (limit type dynamic). Default 5000000. */
  readonly peerBandwidth?: number | undefined
  /** Outgoing chunk size, announced after connect. Default 4096. */
  readonly chunkSize?: number | undefined
  /** The message stream id given in the createStream result. Default 1. */
  readonly streamId?: number | undefined
  /** How connect is answered; a function chooses per connect message (its `amf[2]` is the command object). */
  readonly connect?: Reply | ((message: ClientMessage, number: number) => Reply) | undefined
  readonly createStream?: Reply | undefined
  /** How publish is answered; a function chooses per connection (1-based number). */
  readonly publish?: Reply | ((number: number) => Reply) | undefined
  /** Runs after NetStream.Publish.Start was sent. */
  readonly onPublishing?: ((connection: ServerConnection) => Effect.Effect<void, unknown>) | undefined
  /** Runs for every client message, after it was recorded and the default answer was sent. */
  readonly onMessage?:
    | ((message: ClientMessage, connection: ServerConnection) => Effect.Effect<void, unknown>)
    | undefined
}

/** What one connection's handshake carried. */
export interface Handshake {
  readonly endpoint: MemoryServer["endpoint"]
  readonly c0c1: Uint8Array
  readonly s1: Uint8Array
  readonly c2?: Uint8Array | undefined
}

/** Options of the in-memory transport under the server. */
export interface TransportOptions {
  /** Largest piece delivered to the client (1 = byte by byte). Default: unlimited. */
  readonly fragment?: number | undefined
  /** Every connect is refused. */
  readonly refuse?: boolean | undefined
}

/** A scripted server: its Transport Layer, and what it saw. */
export interface ScriptedServer {
  /** Provides `Transport`: every connect reaches this server. */
  readonly layer: Layer.Layer<Transport>
  /** How many connections the server accepted. */
  readonly connections: () => number
  /** Every message clients sent, over all connections, in order. */
  readonly messages: () => ReadonlyArray<ClientMessage>
  /** Per connection, in order, the endpoint the client connected to (also for connections hung up). */
  readonly endpoints: () => ReadonlyArray<MemoryServer["endpoint"]>
  /** Per connection: the endpoint the client connected to, its C0+C1, the S1 sent and the C2 received. */
  readonly handshakes: () => ReadonlyArray<Handshake>
  /** Bytes the client sent after the handshake, on connection `number` (1-based). */
  readonly bytesReceived: (number: number) => number
  /** Waits for a client message that matches (already recorded or to come). */
  readonly awaitMessage: (matches: (message: ClientMessage) => boolean) => Effect.Effect<ClientMessage>
  /** Waits until every connection's script has ended (the client closed); dies if a script failed. */
  readonly settled: Effect.Effect<void>
}

const u32 = (bytes: Uint8Array, at = 0): number =>
  ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0

/** Reads the 32-bit value of a protocol control message payload (Set Chunk Size, Acknowledgement, ...). */
export const uint32Of = (message: ClientMessage): number => u32(message.payload)

/** The User Control event type and first 32-bit value of a User Control message. */
export const userControlOf = (message: ClientMessage): { readonly eventType: number; readonly value: number } => ({
  eventType: (message.payload[0]! << 8) | message.payload[1]!,
  value: u32(message.payload, 2)
})

/**
 * Makes a scripted server. Synchronous: call it at the top of a test, provide `server.layer`.
 */
export const make = (behaviour: Behaviour = {}, transport: TransportOptions = {}): ScriptedServer => {
  const all: Array<ClientMessage> = []
  const handshakes: Array<{ -readonly [K in keyof Handshake]: Handshake[K] }> = []
  const endpoints: Array<MemoryServer["endpoint"]> = []
  const received = new Map<number, number>()
  const listeners = new Set<() => void>()
  const failures: Array<Cause.Cause<unknown>> = []
  let started = 0
  let finished = 0

  const notify = () => {
    for (const listener of [...listeners]) listener()
  }
  const when = <A>(check: () => A | undefined): Effect.Effect<A> =>
    Effect.callback<A>((resume) => {
      const first = check()
      if (first !== undefined) return resume(Effect.succeed(first))
      const listener = () => {
        const result = check()
        if (result !== undefined) {
          listeners.delete(listener)
          resume(Effect.succeed(result))
        }
      }
      listeners.add(listener)
      return Effect.sync(() => listeners.delete(listener))
    })

  const script = (raw: MemoryServer, number: number): Effect.Effect<void, unknown> =>
    Effect.gen(function*() {
      // Handshake: C0+C1 -> S0+S1+S2 -> C2.
      if (behaviour.hangUp?.(number, raw.endpoint) === true) {
        yield* raw.end
        return
      }
      const c0c1 = (yield* raw.readExactly(1537)).slice()
      const s1 = new Uint8Array(1536)
      globalThis.crypto.getRandomValues(s1.subarray(8))
      const record: { -readonly [K in keyof Handshake]: Handshake[K] } = { endpoint: raw.endpoint, c0c1, s1 }
      handshakes.push(record)
      if (behaviour.closeAfterS1Bytes !== undefined) {
        yield* raw.write(Uint8Array.of(3, ...s1.subarray(0, behaviour.closeAfterS1Bytes)))
        yield* raw.end
        return
      }
      const s0s1s2 = new Uint8Array(1 + 1536 * 2)
      s0s1s2[0] = 3
      s0s1s2.set(s1, 1)
      s0s1s2.set(c0c1.subarray(1), 1 + 1536)
      yield* raw.write(s0s1s2)
      record.c2 = (yield* raw.readExactly(1536)).slice()
      notify()

      const messages: Array<ClientMessage> = []
      const encoder = ChunkEncoder.make()
      let bytesSent = 0
      const send = (...out: ReadonlyArray<RtmpMessage>) =>
        Effect.forEach(out, (message) =>
          Effect.suspend(() => {
            const pieces = encoder.encode(message)
            let length = 0
            for (const piece of pieces) length += piece.length
            const bytes = new Uint8Array(length)
            let at = 0
            for (const piece of pieces) {
              bytes.set(piece, at)
              at += piece.length
            }
            bytesSent += length
            return raw.write(bytes)
          }), { discard: true })
      const sendCommand = (
        values: ReadonlyArray<Amf0.Amf0Value>,
        options?: { readonly streamId?: number; readonly chunkStreamId?: number }
      ) =>
        send({
          typeId: MessageType.CommandAmf0,
          streamId: options?.streamId ?? 0,
          timestamp: 0,
          chunkStreamId: options?.chunkStreamId ?? 3,
          payload: Amf0.encode(values)
        })
      const sendStatus = (streamId: number, status: Status) =>
        sendCommand(["onStatus", 0, null, { ...status }], { streamId, chunkStreamId: 5 })
      const connection: ServerConnection = {
        number,
        messages,
        bytesSent: () => bytesSent,
        send,
        sendCommand,
        sendStatus,
        end: raw.end,
        reset: raw.reset,
        raw
      }

      const answer = (
        reply: Reply,
        transactionId: number,
        streamId: number,
        accept: Effect.Effect<void, unknown>
      ): Effect.Effect<void, unknown> => {
        if (reply === "accept") return accept
        if (reply === "ignore") return Effect.void
        if ("_error" in reply) return sendCommand(["_error", transactionId, null, { ...reply._error }])
        return sendStatus(streamId, reply.onStatus)
      }

      const defaultAnswer = (message: ClientMessage): Effect.Effect<void, unknown> => {
        const transactionId = typeof message.amf?.[1] === "number" ? message.amf[1] : 0
        switch (message.command) {
          case "connect": {
            const chunkSize = behaviour.chunkSize ?? 4096
            return answer(
              typeof behaviour.connect === "function" ? behaviour.connect(message, number) : behaviour.connect ?? "accept",
              transactionId,
              0,
              Effect.gen(function*() {
                yield* send(
                  ProtocolControl.windowAckSize(behaviour.windowAckSize ?? 5_000_000),
                  ProtocolControl.setPeerBandwidth(behaviour.peerBandwidth ?? 5_000_000, 2),
                  ProtocolControl.setChunkSize(chunkSize)
                )
                encoder.setChunkSize(chunkSize)
                yield* sendCommand(["_result", transactionId, connectProperties, {
                  level: "status",
                  code: "NetConnection.Connect.Success",
                  description: "Connection succeeded.",
                  objectEncoding: 0
                }])
              })
            )
          }
          case "createStream":
            return answer(
              behaviour.createStream ?? "accept",
              transactionId,
              0,
              sendCommand(["_result", transactionId, null, behaviour.streamId ?? 1])
            )
          case "publish": {
            const key = typeof message.amf?.[3] === "string" ? message.amf[3] : ""
            return answer(
              typeof behaviour.publish === "function" ? behaviour.publish(number) : behaviour.publish ?? "accept",
              transactionId,
              message.streamId,
              Effect.gen(function*() {
                yield* send(ProtocolControl.streamBegin(message.streamId))
                yield* sendStatus(message.streamId, {
                  level: "status",
                  code: "NetStream.Publish.Start",
                  description: `${key} is now published.`
                })
                if (behaviour.onPublishing !== undefined) yield* behaviour.onPublishing(connection)
              })
            )
          }
          default:
            if (
              message.typeId === MessageType.UserControl &&
              userControlOf(message).eventType === ProtocolControl.UserControlEventType.PingRequest
            ) {
              pings++
              const answer = typeof behaviour.answerPings === "function"
                ? behaviour.answerPings(pings)
                : behaviour.answerPings !== false
              return answer ? send(ProtocolControl.pingResponse(userControlOf(message).value)) : Effect.void
            }
            return Effect.void
        }
      }

      const decodeAmf = (message: DecodedMessage): ReadonlyArray<Amf0.Amf0Value> | undefined => {
        if (message.typeId !== MessageType.CommandAmf0 && message.typeId !== MessageType.DataAmf0) return undefined
        const decoded = Amf0.decode(message.payload)
        if (decoded._tag === "Failure") throw new Error(`the client sent a malformed AMF0 body: ${decoded.failure.reason}`)
        return decoded.success
      }

      let clientWindow = 0
      let pings = 0
      let lastAck = 0
      const counted = Stream.mapEffect(raw.reads, (bytes) => {
        const total = (received.get(number) ?? 0) + bytes.length
        received.set(number, total)
        const window = behaviour.acknowledgeEvery ?? clientWindow
        if (behaviour.acknowledge === true && window > 0 && total - lastAck >= window) {
          lastAck = total
          return Effect.as(send(ProtocolControl.acknowledgement(total)), bytes)
        }
        return Effect.succeed(bytes)
      })
      yield* ChunkDecoder.decode(counted).pipe(
        Stream.runForEach((decoded) =>
          Effect.suspend(() => {
            const amf = decodeAmf(decoded)
            const message: ClientMessage = {
              connection: number,
              typeId: decoded.typeId,
              streamId: decoded.streamId,
              timestamp: decoded.timestamp,
              chunkStreamId: decoded.chunkStreamId,
              payload: decoded.payload.slice(),
              amf,
              command: decoded.typeId === MessageType.CommandAmf0 && typeof amf?.[0] === "string" ? amf[0] : undefined
            }
            if (message.typeId === MessageType.WindowAckSize) clientWindow = u32(message.payload)
            messages.push(message)
            all.push(message)
            notify()
            return Effect.andThen(
              defaultAnswer(message),
              behaviour.onMessage === undefined ? Effect.void : behaviour.onMessage(message, connection)
            )
          })
        )
      )
    })

  const layer = layerMemory({
    fragment: transport.fragment,
    refuse: transport.refuse,
    serve: (raw) =>
      Effect.gen(function*() {
        const number = ++started
        endpoints.push(raw.endpoint)
        yield* script(raw, number).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              // The client closing during the handshake is not a fault of the script.
              if (
                Exit.isFailure(exit) &&
                !Cause.hasInterruptsOnly(exit.cause) &&
                !(Cause.squash(exit.cause) as { _tag?: string })?._tag?.startsWith("UnexpectedEof")
              ) {
                failures.push(exit.cause)
              }
              finished++
              notify()
            })
          ),
          Effect.exit,
          Effect.andThen(raw.end),
          Effect.forkDetach
        )
        // The script runs on after the client's Scope closes, to read everything it wrote.
        return yield* Effect.never
      })
  })

  return {
    layer,
    connections: () => started,
    messages: () => all,
    endpoints: () => endpoints,
    handshakes: () => handshakes,
    bytesReceived: (number) => received.get(number) ?? 0,
    awaitMessage: (matches) => when(() => all.find(matches)),
    settled: Effect.flatMap(when(() => (finished === started ? true : undefined)), () =>
      failures.length === 0
        ? Effect.void
        : Effect.die(new Error(`the scripted server failed:\n${failures.map((c) => Cause.pretty(c)).join("\n")}`)))
  }
}
