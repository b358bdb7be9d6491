/**
 * Probing an RTMP/RTMPS server without publishing: connect, handshake and the `connect` command only
 * (never `createStream` or `publish`), then a report of what the server said about itself and what it
 * advertised: its `connect` `_result` (fmsVer, capabilities, mode, the status info, objectEncoding and any
 * Enhanced RTMP capabilities), its Set Chunk Size, Window Acknowledgement Size and Set Peer Bandwidth, the
 * round-trip time of a Ping Request, and for `rtmps` the TLS session and the server certificate.
 *
 * Use it to check an ingest before going live (`effect-rtmp probe <url>`), or to tell which transport
 * works with a server: run it once per Transport Layer.
 *
 * @since 0.3.0
 */
import type { Connection, TlsOptions, TransportError, TransportName } from "@effect-rtmp/transport"
import { ConnectionReset, Timeout, Transport } from "@effect-rtmp/transport"
import { Clock, Deferred, Duration, Effect, Option, Result, Stream } from "effect"
import * as Amf0 from "./Amf0.ts"
import * as ChunkDecoder from "./ChunkDecoder.ts"
import * as ChunkEncoder from "./ChunkEncoder.ts"
import * as Commands from "./Commands.ts"
import * as Handshake from "./Handshake.ts"
import { certificateOf, type CertificateInfo, toJson } from "./internal/probeValues.ts"
import { type DecodedMessage, MessageType, type RtmpMessage } from "./Message.ts"
import * as ProtocolControl from "./ProtocolControl.ts"
import { type HandshakeError, type InvalidUrl, ProtocolError, Rejected } from "./RtmpError.ts"
import * as Url from "./Url.ts"

export type { CertificateInfo } from "./internal/probeValues.ts"

/**
 * Every way a probe can fail: a bad URL, the transport (`ConnectFailed`, `TlsError`, `UnexpectedEof`,
 * `ConnectionReset`, `Timeout`), the handshake, malformed data, or a refused `connect` (`Rejected`).
 *
 * @since 0.3.0
 */
export type ProbeError = InvalidUrl | TransportError | HandshakeError | ProtocolError | Rejected

/**
 * Options of {@link probe}.
 *
 * @since 0.3.0
 */
export interface ProbeOptions {
  /** Limit for the TCP connect, the TLS handshake, the RTMP handshake and the `connect` reply, each. Default 10 s. */
  readonly timeout?: Duration.Input | undefined
  /** How long to wait for the Ping Response; a server that does not answer gets `rttMs: null`. Default 1 s, at most `timeout`. */
  readonly pingWait?: Duration.Input | undefined
  /** TLS settings for `rtmps` URLs (extra CA, insecure). */
  readonly tls?: TlsOptions | undefined
  /** Send the Enhanced RTMP capabilities in `connect`, as a publish does. Default true. */
  readonly enhanced?: boolean | undefined
}

/**
 * The server's identity: the `connect` `_result`'s properties object and information object.
 *
 * @since 0.3.0
 */
export interface ServerIdentity {
  /** The version field of S1 in the handshake, dotted (`"0.0.0.0"` when the server sends none). */
  readonly handshakeVersion: string
  readonly fmsVer: string | null
  readonly capabilities: number | null
  readonly mode: number | null
  /** The information object's `level`, `code` (`NetConnection.Connect.Success`), `description`. */
  readonly level: string | null
  readonly code: string | null
  readonly description: string | null
  readonly objectEncoding: number | null
  /** Both objects in full, as JSON (AMF0 dates as ISO strings, ECMA arrays as objects). */
  readonly properties: Record<string, unknown> | null
  readonly information: Record<string, unknown> | null
}

/**
 * The Set Peer Bandwidth limit types, by name.
 *
 * @since 0.3.0
 */
export type BandwidthLimitType = "hard" | "soft" | "dynamic" | `unknown(${number})`

/**
 * What the server announced with protocol control messages before its `connect` reply (and while the
 * ping was awaited); null: not sent.
 *
 * @since 0.3.0
 */
export interface Advertised {
  /** Set Chunk Size: the server's outgoing chunk size. */
  readonly chunkSize: number | null
  /** Window Acknowledgement Size: how often the server wants our Acknowledgements. */
  readonly windowAckSize: number | null
  readonly peerBandwidth: { readonly size: number; readonly limitType: BandwidthLimitType } | null
}

/**
 * The Enhanced RTMP capabilities of the `connect` `_result`'s properties, when it carries any.
 *
 * @since 0.3.0
 */
export interface EnhancedCapabilities {
  readonly fourCcList: ReadonlyArray<string> | null
  readonly videoFourCcInfoMap: Readonly<Record<string, number>> | null
  readonly audioFourCcInfoMap: Readonly<Record<string, number>> | null
  readonly capsEx: number | null
}

/**
 * The TLS session of an `rtmps` probe. `certificate` is null when the transport does not report it.
 *
 * @since 0.3.0
 */
export interface TlsReport {
  readonly protocol: string
  readonly cipher: string
  readonly servername: string | null
  readonly certificate: CertificateInfo | null
}

/**
 * The result of a successful probe.
 *
 * @since 0.3.0
 */
export interface ProbeReport {
  /** The URL with its stream key masked. */
  readonly url: string
  readonly transport: TransportName
  readonly server: ServerIdentity
  readonly advertised: Advertised
  /** Null when the `_result` carries no Enhanced RTMP property. */
  readonly enhanced: EnhancedCapabilities | null
  /** Round trip of our Ping Request (User Control 6) to its Ping Response (7), in ms; null: no answer in time. */
  readonly rttMs: number | null
  /** Null for plain `rtmp`. */
  readonly tls: TlsReport | null
  /** From the TCP connect to the `connect` reply, in ms. */
  readonly connectMs: number
}

const defaultTimeout = Duration.seconds(10)
const defaultPingWait = Duration.seconds(1)

/**
 * Probes `url`: connects over the provided Transport, runs the handshake and `connect` (transaction 1),
 * sends a Ping Request, and closes. Never creates a stream nor publishes, so the stream key is never sent
 * (it only appears, masked, in the report). A `_error` or an error-level `onStatus` to `connect` fails
 * with `Rejected`.
 *
 * @since 0.3.0
 */
export const probe = (url: string, options: ProbeOptions = {}): Effect.Effect<ProbeReport, ProbeError, Transport> =>
  Effect.gen(function*() {
    const target = yield* Url.parse(url)
    const transport = yield* Transport
    const limit = Duration.fromInputUnsafe(options.timeout ?? defaultTimeout)
    const pingWait = Duration.min(limit, Duration.fromInputUnsafe(options.pingWait ?? defaultPingWait))
    return yield* Effect.scoped(Effect.gen(function*() {
      const started = yield* Clock.currentTimeNanos
      const connection = yield* transport.connect({
        host: target.host,
        port: target.port,
        tls: target.protocol === "rtmps" ? { ...options.tls } : undefined,
        timeout: limit
      })
      return yield* session(connection, target, options, limit, pingWait, started)
    }))
  })

/** What the reader learnt, filled in as messages arrive. */
interface Learnt {
  chunkSize: number | null
  windowAckSize: number | null
  peerBandwidth: { size: number; limitType: number } | null
}

const session = (
  connection: Connection,
  target: Url.RtmpUrl,
  options: ProbeOptions,
  limit: Duration.Duration,
  pingWait: Duration.Duration,
  started: bigint
) =>
  Effect.gen(function*() {
    const within = <A, E>(phase: string, effect: Effect.Effect<A, E>) =>
      Effect.timeoutOrElse(effect, {
        duration: limit,
        orElse: () => Effect.fail(new Timeout({ phase, after: Duration.toMillis(limit) }))
      })
    const outcome = yield* within("handshake", Handshake.run(connection))

    const encoder = ChunkEncoder.make()
    const send = (messages: ReadonlyArray<RtmpMessage>) =>
      within("write", connection.write(messages.flatMap((message) => encoder.encode(message))))

    const learnt: Learnt = { chunkSize: null, windowAckSize: null, peerBandwidth: null }
    const connected = yield* Deferred.make<ReadonlyArray<Amf0.Amf0Value>, ProbeError>()
    const pingTimestamp = Number(started / 1_000_000n) % 0x1_0000_0000
    const pong = yield* Deferred.make<bigint>()

    const handle = (message: DecodedMessage): Effect.Effect<void, ProbeError> => {
      switch (message.typeId) {
        case MessageType.SetChunkSize:
          return Effect.map(Effect.fromResult(ProtocolControl.readUint32(message.payload)), (size) => {
            learnt.chunkSize = size
          })
        case MessageType.WindowAckSize:
          return Effect.map(Effect.fromResult(ProtocolControl.readUint32(message.payload)), (size) => {
            learnt.windowAckSize = size
          })
        case MessageType.SetPeerBandwidth:
          return Effect.map(Effect.fromResult(ProtocolControl.parseSetPeerBandwidth(message.payload)), (bw) => {
            learnt.peerBandwidth = { ...bw }
          })
        case MessageType.UserControl:
          return Effect.flatMap(Effect.fromResult(ProtocolControl.parseUserControl(message.payload)), (event) =>
            event._tag === "PingRequest"
              ? Effect.asVoid(send([ProtocolControl.pingResponse(event.timestamp)]))
              : event._tag === "PingResponse" && event.timestamp === pingTimestamp
              ? Effect.flatMap(Clock.currentTimeNanos, (now) => Deferred.succeed(pong, now))
              : Effect.void)
        case MessageType.CommandAmf0:
        case MessageType.CommandAmf3: {
          const payload = message.typeId === MessageType.CommandAmf3 ? message.payload.subarray(1) : message.payload
          return Effect.flatMap(Effect.fromResult(Amf0.decode(payload)), (values) => {
            const parsed = Commands.parse({ ...message, payload })
            const command = Result.isSuccess(parsed) ? parsed.success : undefined
            if (command?._tag === "Result" && command.transactionId === 1) {
              return Deferred.succeed(connected, values.slice(2))
            }
            if (
              (command?._tag === "Error" && command.transactionId === 1) ||
              (command?._tag === "OnStatus" && command.info.level === "error")
            ) {
              return Deferred.fail(
                connected,
                new Rejected({ command: "connect", code: command.info.code, description: command.info.description ?? "" })
              )
            }
            return Effect.void
          })
        }
        default:
          return Effect.void
      }
    }

    yield* ChunkDecoder.decode(connection.reads).pipe(
      Stream.runForEach(handle),
      Effect.andThen(Deferred.fail(
        connected,
        new ConnectionReset({ code: "EOF", reason: "the server closed the connection during connect" })
      )),
      Effect.catch((error) => Deferred.fail(connected, error)),
      Effect.forkScoped
    )

    yield* send([Commands.connect(target, { enhanced: options.enhanced })])
    const values = yield* within("connect", Deferred.await(connected))
    const connectedAt = yield* Clock.currentTimeNanos

    const sentAt = yield* Clock.currentTimeNanos
    yield* send([ProtocolControl.pingRequest(pingTimestamp)])
    const answered = yield* Deferred.await(pong).pipe(Effect.timeoutOption(pingWait))
    const rttMs = Option.match(answered, {
      onNone: () => null,
      onSome: (at) => Math.round(Number(at - sentAt) / 10_000) / 100
    })

    const properties = values[0] !== undefined && Amf0.isObject(values[0]) ? values[0] : undefined
    const information = values[1] !== undefined && Amf0.isObject(values[1]) ? values[1] : undefined
    if (information === undefined && properties === undefined && values.length === 0) {
      return yield* new ProtocolError({ reason: "the connect _result carries no properties nor information object" })
    }
    const peer = learnt.peerBandwidth
    return {
      url: Url.toMaskedString(target),
      transport: connection.transport,
      server: {
        handshakeVersion: outcome.serverVersion,
        fmsVer: stringOf(properties?.["fmsVer"]),
        capabilities: numberOf(properties?.["capabilities"]),
        mode: numberOf(properties?.["mode"]),
        level: stringOf(information?.["level"]),
        code: stringOf(information?.["code"]),
        description: stringOf(information?.["description"]),
        objectEncoding: numberOf(information?.["objectEncoding"]),
        properties: properties === undefined ? null : toJson(properties) as Record<string, unknown>,
        information: information === undefined ? null : toJson(information) as Record<string, unknown>
      },
      advertised: {
        chunkSize: learnt.chunkSize,
        windowAckSize: learnt.windowAckSize,
        peerBandwidth: peer === null ? null : { size: peer.size, limitType: limitTypeName(peer.limitType) }
      },
      enhanced: enhancedOf(properties),
      rttMs,
      tls: connection.tls === undefined ? null : {
        protocol: connection.tls.protocol,
        cipher: connection.tls.cipher,
        servername: connection.tls.servername ?? null,
        certificate: certificateOf(connection.tls)
      },
      connectMs: Math.round(Number(connectedAt - started) / 10_000) / 100
    } satisfies ProbeReport
  })

const stringOf = (value: Amf0.Amf0Value): string | null => typeof value === "string" ? value : null
const numberOf = (value: Amf0.Amf0Value): number | null => typeof value === "number" ? value : null

const limitTypeName = (limitType: number): BandwidthLimitType =>
  limitType === ProtocolControl.BandwidthLimitType.Hard
    ? "hard"
    : limitType === ProtocolControl.BandwidthLimitType.Soft
    ? "soft"
    : limitType === ProtocolControl.BandwidthLimitType.Dynamic
    ? "dynamic"
    : `unknown(${limitType})`

/** A map of FourCC to FourCcInfoMask flags, from an object or an ECMA array; other values: null. */
const infoMapOf = (value: Amf0.Amf0Value): Record<string, number> | null => {
  const entries = value instanceof Amf0.Amf0EcmaArray ? value.entries : value !== undefined && Amf0.isObject(value) ? value : undefined
  if (entries === undefined) return null
  const map: Record<string, number> = {}
  for (const [fourCc, flags] of Object.entries(entries)) if (typeof flags === "number") map[fourCc] = flags
  return map
}

const enhancedOf = (properties: Amf0.Amf0Object | undefined): EnhancedCapabilities | null => {
  if (properties === undefined) return null
  const list = properties["fourCcList"]
  const enhanced: EnhancedCapabilities = {
    fourCcList: Array.isArray(list) ? list.filter((fourCc): fourCc is string => typeof fourCc === "string") : null,
    videoFourCcInfoMap: infoMapOf(properties["videoFourCcInfoMap"]),
    audioFourCcInfoMap: infoMapOf(properties["audioFourCcInfoMap"]),
    capsEx: numberOf(properties["capsEx"])
  }
  return Object.values(enhanced).every((value) => value === null) ? null : enhanced
}
