/**
 * The publish session: the state machine of an RTMP publisher on one open connection.
 *
 * handshake -> Set Chunk Size + connect -> Window Acknowledgement Size + releaseStream + FCPublish +
 * createStream -> publish -> (media, sent by the caller) -> FCUnpublish + deleteStream. A reader fiber
 * decodes what the server sends: it answers pings, acknowledges per the server's window, counts the
 * server's Acknowledgements of our bytes (`acknowledged`, for the replay buffer), and turns `_error` /
 * error `onStatus` into a typed `Rejected` that stops the session.
 *
 * @since 0.1.0
 */
import type { Connection, TransportError } from "@effect-rtmp/transport"
import { ConnectionReset, Timeout } from "@effect-rtmp/transport"
import { Cause, Clock, Deferred, Duration, Effect, Latch, Queue, Semaphore, Stream } from "effect"
import type { Scope } from "effect"
import * as Acknowledgements from "./Acknowledgements.ts"
import * as ChunkDecoder from "./ChunkDecoder.ts"
import * as ChunkEncoder from "./ChunkEncoder.ts"
import * as Commands from "./Commands.ts"
import * as Handshake from "./Handshake.ts"
import { type DecodedMessage, MessageType, type RtmpMessage } from "./Message.ts"
import * as ProtocolControl from "./ProtocolControl.ts"
import { type HandshakeError, ProtocolError, Rejected } from "./RtmpError.ts"
import type { RtmpUrl } from "./Url.ts"

/**
 * Every way a session can fail.
 *
 * @since 0.1.0
 */
export type SessionError = TransportError | HandshakeError | ProtocolError | Rejected

/**
 * Options of a session.
 *
 * @since 0.1.0
 */
export interface SessionOptions {
  /** Outgoing chunk size, announced with Set Chunk Size before any command. Default 4096. */
  readonly chunkSize?: number | undefined
  /** Limit for the handshake, each awaited reply and each write. Default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /**
   * Window Acknowledgement Size announced to the server after connect: the server acknowledges each time
   * it received this many more bytes (what tells the replay buffer which frames were delivered).
   * Default 1 000 000; 0 announces nothing.
   */
  readonly windowAckSize?: number | undefined
  /**
   * How long `finish` waits for a server that answers pings to confirm the end of the stream. Default: 2 s,
   * at most `timeout`.
   */
  readonly finishWait?: Duration.Input | undefined
  /** How the handshake is made (`Handshake.Options`: simple or digest C1). Default: simple. */
  readonly handshake?: Handshake.Options | undefined
  /**
   * Advertise Enhanced RTMP in the connect command object (`Commands.ConnectOptions.enhanced`). Default
   * true; false for old servers that refuse properties they do not know.
   */
  readonly enhanced?: boolean | undefined
  /** Called once the handshake succeeded, before any command: tells later failures from handshake ones. */
  readonly onHandshake?: ((outcome: Handshake.Outcome) => void) | undefined
  /**
   * How often to measure the round trip time with a Ping Request while publishing, with a server that
   * answers pings (see `rttMs`). Default 2 s; 0 never pings (the probe after connect still measures once).
   */
  readonly pingInterval?: Duration.Input | undefined
}

/**
 * An open publish: `send` media messages on `streamId`, then `finish`.
 *
 * @since 0.1.0
 */
export interface Session {
  /** The message stream id the server gave in its `createStream` result. */
  readonly streamId: number
  /**
   * Chunks and writes the messages, in order, as one write. Succeeds with the byte offset (in `bytesSent`
   * terms) at which each message ended.
   */
  readonly send: (messages: ReadonlyArray<RtmpMessage>) => Effect.Effect<ReadonlyArray<number>, SessionError>
  /** Fails as soon as the server rejects the publish or the connection ends; never succeeds. */
  readonly watch: Effect.Effect<never, SessionError>
  /** Bytes written to the connection so far (after the handshake). */
  readonly bytesSent: () => number
  /**
   * Bytes of `bytesSent` the server has acknowledged receiving, a lower bound (see `Acknowledgements`);
   * 0 while it sent no Acknowledgement.
   */
  readonly acknowledged: () => number
  /**
   * FCUnpublish + deleteStream: the server ends the publish and closes its recording. Then, with a
   * server that answers Ping Requests (the session sends one after connect to find out: nginx-rtmp and
   * SRS do, node-media-server does not), waits at most `finishWait` for it to confirm it has read
   * everything: the Ping Response to a Ping Request sent right after deleteStream, `onStatus
   * NetStream.Unpublish.Success`, or the end of the connection. Closing before that can lose the last
   * frames: a socket closed with unread data resets the connection, and the server drops what it had
   * not read yet. Succeeds with true when the server confirmed (Ping Response or Unpublish.Success) that
   * it read everything sent.
   */
  readonly finish: Effect.Effect<boolean, SessionError>
  /**
   * The server's request to reconnect (`onStatus NetConnection.Connect.ReconnectRequest`, Enhanced RTMP
   * v2), once one came at any point of the session; `undefined` until then.
   */
  readonly reconnectRequested: () => ReconnectRequest | undefined
  /**
   * The last round trip time measured, ms: from a Ping Request to its Ping Response. The requests go
   * after the media already written, so under congestion this includes the time the bytes queue in the
   * sockets' buffers. `undefined` with a server that does not answer pings.
   */
  readonly rttMs: () => number | undefined
  /**
   * Flow control: waits while more than `limit` bytes written are not acknowledged by the server yet,
   * so that a slow link makes the sender wait here (where a live source's frames can still be dropped)
   * rather than pile up in the sockets' buffers. Returns at once with a server that has not acknowledged
   * anything on this connection; a server that acknowledges less often than the window asked of it gets
   * twice its own step instead of `limit`; a server that stops acknowledging for the session's `timeout`
   * is not waited for again on this connection.
   */
  readonly awaitInFlight: (limit: number) => Effect.Effect<void>
}

/**
 * A server's request to reconnect: `tcUrl` is where to (undefined: the same URL).
 *
 * @since 0.3.0
 */
export interface ReconnectRequest {
  readonly tcUrl: string | undefined
  readonly description: string
}

const defaultChunkSize = 4096
const defaultWindowAckSize = 1_000_000
const defaultFinishWait = Duration.seconds(2)
const defaultPingInterval = Duration.seconds(2)
/** The timestamp of the Ping Request sent after connect, to learn whether the server answers pings. */
const probeTimestamp = 0x0e11_0000
/** The timestamps of the Ping Requests that measure the round trip time: this, plus a counter. */
const rttTimestamps = 0x0e12_0000

/** What the reader needs to know of the session's Ping Requests. */
interface Pong {
  readonly probe: number
  /** The server answered the probe. */
  answered: boolean
  /** The timestamp `finish` sent, and what its answer completes. */
  timestamp: number
  received: Deferred.Deferred<void> | undefined
  /** When each unanswered Ping Request was sent (Clock ms), by timestamp. */
  readonly sentAt: Map<number, number>
  /** The last round trip measured, ms. */
  rtt: number | undefined
}
const defaultTimeout = Duration.seconds(10)

/** Transaction ids of the commands we send (connect is 1). */
const Txn = { releaseStream: 2, fcPublish: 3, createStream: 4, fcUnpublish: 5, deleteStream: 6 } as const

/**
 * Transactions of the commands nothing waits for: servers that do not implement them answer `_error`
 * (NetConnection.Call.Failed), which is no rejection of the publish; FFmpeg ignores these errors too.
 */
const unawaited: ReadonlySet<number> = new Set([Txn.releaseStream, Txn.fcPublish, Txn.fcUnpublish])

/**
 * Runs the handshake and the publish commands on an open connection, up to `NetStream.Publish.Start`.
 * The reader fiber lives in the Scope.
 *
 * @since 0.1.0
 */
export const open = (
  connection: Connection,
  url: RtmpUrl,
  options: SessionOptions = {}
): Effect.Effect<Session, SessionError, Scope.Scope> =>
  Effect.gen(function*() {
    const limit = Duration.fromInputUnsafe(options.timeout ?? defaultTimeout)
    const finishWait = Duration.min(limit, Duration.fromInputUnsafe(options.finishWait ?? defaultFinishWait))
    const within = <A, E>(phase: string, effect: Effect.Effect<A, E>) =>
      Effect.timeoutOrElse(effect, {
        duration: limit,
        orElse: () => Effect.fail(new Timeout({ phase, after: Duration.toMillis(limit) }))
      })

    const outcome = yield* within("handshake", Handshake.run(connection, options.handshake))
    options.onHandshake?.(outcome)

    const encoder = ChunkEncoder.make()
    const writeLock = yield* Semaphore.make(1)
    let bytesSent = 0
    const send = (messages: ReadonlyArray<RtmpMessage>): Effect.Effect<ReadonlyArray<number>, SessionError> =>
      writeLock.withPermits(1)(Effect.suspend(() => {
        const pieces: Array<Uint8Array> = []
        const ends: Array<number> = []
        for (const message of messages) {
          for (const piece of encoder.encode(message)) {
            pieces.push(piece)
            bytesSent += piece.length
          }
          ends.push(bytesSent)
        }
        return Effect.as(within("write", connection.write(pieces)), ends)
      }))
    const acknowledgements = Acknowledgements.make(() => bytesSent)
    /** Opened by each Acknowledgement: what `awaitInFlight` waits for. */
    const acknowledged = yield* Latch.make(false)
    /** The largest step between two acknowledged counts: a server's own window, if it ignores ours. */
    const flow = { acknowledgements: 0, off: false, step: 0 }
    /** The Ping Responses the session waits for: the probe's after connect, then the one `finish` sends. */
    const pong: Pong = {
      probe: probeTimestamp,
      answered: false,
      timestamp: 0,
      received: undefined,
      sentAt: new Map(),
      rtt: undefined
    }
    /** A Ping Request, its send time noted (a few at most: a server that stops answering leaves none). */
    const ping = (timestamp: number) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (pong.sentAt.size >= 8) pong.sentAt.clear()
        pong.sentAt.set(timestamp, now)
        return ProtocolControl.pingRequest(timestamp)
      })
    const reconnect: { request: ReconnectRequest | undefined } = { request: undefined }

    const inbox = yield* Queue.unbounded<Commands.ServerCommand, SessionError | Cause.Done>()
    const onAcknowledgement = (sequenceNumber: number) => {
      const before = acknowledgements.bytes()
      acknowledgements.receive(sequenceNumber)
      flow.step = Math.max(flow.step, acknowledgements.bytes() - before)
      flow.acknowledgements += 1
      acknowledged.openUnsafe()
    }
    yield* Stream.runForEach(reader(connection, send, onAcknowledgement, pong, reconnect), (command) => Queue.offer(inbox, command)).pipe(
      Effect.flatMap(() =>
        Queue.fail(inbox, new ConnectionReset({ code: "EOF", reason: "the server closed the connection" }))
      ),
      Effect.catch((error) => Queue.fail(inbox, error)),
      Effect.forkScoped
    )

    const chunkSize = options.chunkSize ?? defaultChunkSize
    yield* send([ProtocolControl.setChunkSize(chunkSize)])
    encoder.setChunkSize(chunkSize)

    yield* send([Commands.connect(url, { enhanced: options.enhanced })])
    yield* within("connect", awaitCommand(inbox, "connect", (c) => c._tag === "Result" && c.transactionId === 1))

    const windowAckSize = options.windowAckSize ?? defaultWindowAckSize
    yield* send([
      ...(windowAckSize > 0 ? [ProtocolControl.windowAckSize(windowAckSize)] : []),
      yield* ping(probeTimestamp),
      Commands.releaseStream(Txn.releaseStream, url.streamKey),
      Commands.fcPublish(Txn.fcPublish, url.streamKey),
      Commands.createStream(Txn.createStream)
    ])
    const created = yield* within(
      "createStream",
      awaitCommand(inbox, "createStream", (c) => c._tag === "Result" && c.transactionId === Txn.createStream)
    )
    const streamId = created._tag === "Result" ? created.values[1] : undefined
    if (typeof streamId !== "number" || !Number.isInteger(streamId) || streamId < 0) {
      return yield* new ProtocolError({ reason: "createStream result carries no message stream id" })
    }

    yield* send([Commands.publish(streamId, url.streamKey)])
    yield* within(
      "publish",
      awaitCommand(inbox, "publish", (c) => c._tag === "OnStatus" && c.info.code === "NetStream.Publish.Start")
    )

    const pingEvery = Duration.fromInputUnsafe(options.pingInterval ?? defaultPingInterval)
    if (Duration.toMillis(pingEvery) > 0) {
      let pings = 0
      // A failed ping write is the media writes' failure too: they report it.
      yield* Effect.suspend(() =>
        pong.answered
          ? Effect.ignore(Effect.flatMap(ping(rttTimestamps + (pings++ % 0x1_0000)), (request) => send([request])))
          : Effect.void
      ).pipe(Effect.delay(pingEvery), Effect.forever, Effect.forkScoped)
    }

    const watch: Effect.Effect<never, SessionError> = Effect.forever(
      Effect.flatMap(Queue.take(inbox), (command) => rejection("publish", command) ?? Effect.void)
    ).pipe(Effect.catchTag("Done", () => Effect.never))

    return {
      streamId,
      send,
      watch,
      bytesSent: () => bytesSent,
      acknowledged: acknowledgements.bytes,
      finish: Effect.gen(function*() {
        if (!pong.answered) {
          yield* send([
            Commands.fcUnpublish(Txn.fcUnpublish, url.streamKey),
            Commands.deleteStream(Txn.deleteStream, streamId)
          ])
          return false
        }
        const received = yield* Deferred.make<void>()
        pong.timestamp = bytesSent % 0x1_0000_0000
        pong.received = received
        yield* send([
          Commands.fcUnpublish(Txn.fcUnpublish, url.streamKey),
          Commands.deleteStream(Txn.deleteStream, streamId),
          ProtocolControl.pingRequest(pong.timestamp)
        ])
        return yield* Effect.raceFirst(Effect.as(Deferred.await(received), true), unpublished(inbox)).pipe(
          Effect.timeoutOrElse({ duration: finishWait, orElse: () => Effect.succeed(false) })
        )
      }),
      reconnectRequested: () => reconnect.request,
      rttMs: () => pong.rtt,
      awaitInFlight: (maxBytes) => {
        const wait: Effect.Effect<void> = Effect.suspend(() => {
          // A server that acknowledges less often than asked gets room for two of its own steps.
          const allowed = Math.max(maxBytes, 2 * flow.step)
          if (flow.off || flow.acknowledgements === 0 || bytesSent - acknowledgements.bytes() <= allowed) return Effect.void
          acknowledged.closeUnsafe()
          return Effect.flatMap(
            Effect.timeoutOption(acknowledged.await, limit),
            (arrived) => {
              if (arrived._tag === "None") flow.off = true
              return wait
            }
          )
        })
        return wait
      }
    } satisfies Session
  })

/** A `_error` (but to an unawaited command) or an error-level `onStatus` as a typed rejection. */
const rejection = (command: string, received: Commands.ServerCommand) => {
  if (
    (received._tag === "Error" && !unawaited.has(received.transactionId)) ||
    (received._tag === "OnStatus" && received.info.level === "error")
  ) {
    return Effect.fail(
      new Rejected({ command, code: received.info.code, description: received.info.description ?? "" })
    )
  }
  return undefined
}

/**
 * Succeeds once the server says the publish ended (`onStatus NetStream.Unpublish.Success`: true) or
 * closes the connection (false); other commands, errors included, are passed over. A connection that
 * fails otherwise (a reset: the server may have dropped what it had not read) fails.
 */
const unpublished = (
  inbox: Queue.Dequeue<Commands.ServerCommand, SessionError | Cause.Done>
): Effect.Effect<boolean, SessionError> =>
  Effect.flatMap(
    Effect.result(Queue.take(inbox)),
    (taken): Effect.Effect<boolean, SessionError> =>
      taken._tag === "Failure"
        ? isClosed(taken.failure) ? Effect.succeed(false) : Effect.fail(taken.failure)
        : taken.success._tag === "OnStatus" && taken.success.info.code === "NetStream.Unpublish.Success"
        ? Effect.succeed(true)
        : unpublished(inbox)
  )

/** The end of the reader: the server closed the connection (or the inbox was done). */
const isClosed = (failure: SessionError | Cause.Done): failure is Cause.Done | ConnectionReset =>
  failure._tag === "Done" || (failure._tag === "ConnectionReset" && failure.code === "EOF")

/** Takes server commands until one matches; a rejection on the way fails. */
const awaitCommand = (
  inbox: Queue.Dequeue<Commands.ServerCommand, SessionError | Cause.Done>,
  command: string,
  matches: (received: Commands.ServerCommand) => boolean
): Effect.Effect<Commands.ServerCommand, SessionError> =>
  Effect.flatMap(Queue.take(inbox), (received): Effect.Effect<Commands.ServerCommand, SessionError> => {
    const rejected = rejection(command, received)
    if (rejected !== undefined) return rejected
    return matches(received) ? Effect.succeed(received) : awaitCommand(inbox, command, matches)
  }).pipe(
    Effect.catchTag("Done", () =>
      Effect.fail(new ConnectionReset({ code: "EOF", reason: `the server closed the connection during ${command}` })))
  )

/**
 * Everything the server sends, as commands; protocol control is handled on the way: pings answered,
 * bytes acknowledged per the window the server set, the server's Acknowledgements counted.
 */
const reader = (
  connection: Connection,
  send: (messages: ReadonlyArray<RtmpMessage>) => Effect.Effect<unknown, SessionError>,
  onAcknowledgement: (sequenceNumber: number) => void,
  pong: Pong,
  reconnect: { request: ReconnectRequest | undefined }
): Stream.Stream<Commands.ServerCommand, SessionError> => {
  const noticed = (command: Commands.ServerCommand): Array<Commands.ServerCommand> => {
    if (command._tag === "OnStatus" && command.info.code === Commands.reconnectRequestCode) {
      reconnect.request ??= { tcUrl: command.info.tcUrl, description: command.info.description ?? "" }
    }
    return [command]
  }
  let received = 0
  let acknowledged = 0
  let window = 0
  const counted = Stream.mapEffect(connection.reads, (bytes) => {
    received += bytes.length
    if (window > 0 && received - acknowledged >= window) {
      acknowledged = received
      return Effect.as(send([ProtocolControl.acknowledgement(received % 0x1_0000_0000)]), bytes)
    }
    return Effect.succeed(bytes)
  })
  const handle = (message: DecodedMessage): Effect.Effect<ReadonlyArray<Commands.ServerCommand>, SessionError> => {
    switch (message.typeId) {
      case MessageType.Acknowledgement:
        return Effect.map(Effect.fromResult(ProtocolControl.readUint32(message.payload)), (sequenceNumber) => {
          onAcknowledgement(sequenceNumber)
          return []
        })
      case MessageType.WindowAckSize:
        return Effect.map(Effect.fromResult(ProtocolControl.readUint32(message.payload)), (size) => {
          window = size
          return []
        })
      case MessageType.UserControl:
        return Effect.flatMap(Effect.fromResult(ProtocolControl.parseUserControl(message.payload)), (event) =>
          event._tag === "PingRequest"
            ? Effect.as(send([ProtocolControl.pingResponse(event.timestamp)]), [])
            : event._tag === "PingResponse"
            ? Effect.flatMap(Clock.currentTimeMillis, (now) => {
              if (event.timestamp === pong.probe) pong.answered = true
              const sentAt = pong.sentAt.get(event.timestamp)
              if (sentAt !== undefined) {
                pong.sentAt.delete(event.timestamp)
                pong.rtt = now - sentAt
              }
              return pong.received !== undefined && event.timestamp === pong.timestamp
                ? Effect.as(Deferred.succeed(pong.received, undefined), [])
                : Effect.succeed([])
            })
            : Effect.succeed([]))
      case MessageType.CommandAmf0:
        return Effect.map(Effect.fromResult(Commands.parse(message)), noticed)
      case MessageType.CommandAmf3:
        return Effect.map(Effect.fromResult(Commands.parse({ ...message, payload: message.payload.subarray(1) })), noticed)
      default:
        return Effect.succeed([])
    }
  }
  return ChunkDecoder.decode(counted).pipe(
    Stream.mapEffect(handle),
    Stream.flatMap((commands) => Stream.fromIterable(commands))
  )
}
