/**
 * NetConnection and NetStream commands of a publishing client (RTMP spec 7.2), as AMF0 command
 * messages, and the parsing of what the server answers (`_result`, `_error`, `onStatus`).
 *
 * @since 0.1.0
 */
import { Option, Result, Schema } from "effect"
import * as Amf0 from "./Amf0.ts"
import { type DecodedMessage, MessageType, type RtmpMessage } from "./Message.ts"
import type { ProtocolError } from "./RtmpError.ts"
import type { RtmpUrl } from "./Url.ts"

/** Chunk stream id for NetConnection commands. */
const commandChunkStream = 3
/** Chunk stream id for NetStream commands (publish, deleteStream on the stream). */
const streamCommandChunkStream = 5

/**
 * The flash version a publisher announces: servers use the `FMLE/` prefix to recognise an encoder.
 *
 * @since 0.1.0
 */
export const flashVer = "FMLE/3.0 (compatible; effect-rtmp)"

const command = (
  name: string,
  transactionId: number,
  commandObject: Amf0.Amf0Value,
  args: ReadonlyArray<Amf0.Amf0Value>,
  streamId = 0,
  chunkStreamId = commandChunkStream
): RtmpMessage => ({
  typeId: MessageType.CommandAmf0,
  streamId,
  timestamp: 0,
  chunkStreamId,
  payload: Amf0.encode([name, transactionId, commandObject, ...args])
})

/**
 * Enhanced RTMP FourCcInfoMask: the capability flags of each FourCC in `videoFourCcInfoMap` /
 * `audioFourCcInfoMap` of the connect command object (E-RTMP v2, "Enhancing NetConnection connect Command").
 *
 * @since 0.1.0
 */
export const FourCcInfoMask = {
  /** Can decode (play) the codec. */
  CanDecode: 0x01,
  /** Can encode the codec: produce it into a stream, which is what a publisher declares. */
  CanEncode: 0x02,
  /** Can forward the codec without decoding it (servers, relays, recorders; often as the `"*"` key). */
  CanForward: 0x04
} as const

/**
 * Enhanced RTMP CapsExMask: the flags of `capsEx` in the connect command object.
 *
 * @since 0.1.0
 */
export const CapsExMask = {
  /** Handles `onStatus` `NetConnection.Connect.ReconnectRequest`. */
  Reconnect: 0x01,
  /** Multitrack audio and video (`AvMultitrackType`). */
  Multitrack: 0x02,
  /** Can parse (here: writes) the ModEx signal. */
  ModEx: 0x04,
  /** ModEx TimestampOffsetNano. */
  TimestampNanoOffset: 0x08
} as const

/**
 * The video FourCCs this client can send (`FlvMuxer` writes every one of them), in the order `fourCcList`
 * announces them.
 *
 * @since 0.1.0
 */
export const videoFourCcs: ReadonlyArray<string> = ["av01", "vp09", "vp08", "hvc1", "avc1", "vvc1"]

/**
 * The audio FourCCs this client can send, in the order `fourCcList` announces them.
 *
 * @since 0.1.0
 */
export const audioFourCcs: ReadonlyArray<string> = ["Opus", "fLaC", "ac-3", "ec-3", "mp4a", ".mp3"]

const infoMap = (fourCcs: ReadonlyArray<string>, flags: number): Amf0.Amf0Object =>
  Object.fromEntries(fourCcs.map((fourCc) => [fourCc, flags]))

/**
 * The Enhanced RTMP properties a publisher adds to the connect command object (E-RTMP v2):
 *
 * - `fourCcList`: strict array of every FourCC it can send (the v1 form, which servers still read);
 * - `videoFourCcInfoMap` / `audioFourCcInfoMap`: each of those FourCCs with `FourCcInfoMask.CanEncode`, the
 *   capability of a client that produces the codec into its stream (it neither decodes nor forwards
 *   arbitrary codecs: no `"*"` key);
 * - `capsEx`: `Reconnect | Multitrack | ModEx | TimestampNanoOffset` (15): it follows a
 *   `NetConnection.Connect.ReconnectRequest`, can send multitrack messages and the ModEx
 *   TimestampOffsetNano signal.
 *
 * @since 0.1.0
 */
export const enhancedCapabilities: Amf0.Amf0Object = {
  fourCcList: [...videoFourCcs, ...audioFourCcs],
  videoFourCcInfoMap: infoMap(videoFourCcs, FourCcInfoMask.CanEncode),
  audioFourCcInfoMap: infoMap(audioFourCcs, FourCcInfoMask.CanEncode),
  capsEx: CapsExMask.Reconnect | CapsExMask.Multitrack | CapsExMask.ModEx | CapsExMask.TimestampNanoOffset
}

/**
 * The `onStatus` code with which a server asks the client to reconnect (Enhanced RTMP v2): to the
 * `tcUrl` of the info object if it has one, else to the same URL, for example before it restarts.
 *
 * @since 0.3.0
 */
export const reconnectRequestCode = "NetConnection.Connect.ReconnectRequest"

/**
 * Options of {@link connect}.
 *
 * @since 0.1.0
 */
export interface ConnectOptions {
  /**
   * Advertise Enhanced RTMP ({@link enhancedCapabilities}) in the command object. Default true. `false`
   * sends the legacy object only (`app`, `type`, `flashVer`, `tcUrl`), for old servers that refuse
   * properties they do not know.
   */
  readonly enhanced?: boolean | undefined
}

/**
 * `connect(app, type: nonprivate, flashVer, tcUrl)`, transaction 1: the first command of a session, with
 * the Enhanced RTMP capabilities of a publisher after the legacy properties ({@link enhancedCapabilities}:
 * `fourCcList`, `videoFourCcInfoMap`, `audioFourCcInfoMap`, `capsEx`) unless `enhanced: false`.
 *
 * @since 0.1.0
 */
export const connect = (url: RtmpUrl, options?: ConnectOptions): RtmpMessage =>
  command("connect", 1, {
    app: url.app,
    type: "nonprivate",
    flashVer,
    tcUrl: url.tcUrl,
    ...(options?.enhanced === false ? {} : enhancedCapabilities)
  }, [])

/**
 * `releaseStream(null, streamKey)`: asks the server to drop a stale publisher of the same name. Most
 * servers never answer it: do not wait.
 *
 * @since 0.1.0
 */
export const releaseStream = (transactionId: number, streamKey: string): RtmpMessage =>
  command("releaseStream", transactionId, null, [streamKey])

/**
 * `FCPublish(null, streamKey)`: the FMLE announcement expected by CDNs before publishing. Not awaited.
 *
 * @since 0.1.0
 */
export const fcPublish = (transactionId: number, streamKey: string): RtmpMessage =>
  command("FCPublish", transactionId, null, [streamKey])

/**
 * `createStream(null)`: its `_result` carries the message stream id to publish on.
 *
 * @since 0.1.0
 */
export const createStream = (transactionId: number): RtmpMessage => command("createStream", transactionId, null, [])

/**
 * `publish(null, streamKey, "live")` on the created message stream; answered by `onStatus`
 * `NetStream.Publish.Start`.
 *
 * @since 0.1.0
 */
export const publish = (streamId: number, streamKey: string, publishingType = "live"): RtmpMessage =>
  command("publish", 0, null, [streamKey, publishingType], streamId, streamCommandChunkStream)

/**
 * `FCUnpublish(null, streamKey)`: the FMLE counterpart of `FCPublish`, sent when the publish ends.
 *
 * @since 0.1.0
 */
export const fcUnpublish = (transactionId: number, streamKey: string): RtmpMessage =>
  command("FCUnpublish", transactionId, null, [streamKey])

/**
 * `deleteStream(null, streamId)`: ends the publish; the server closes the recording.
 *
 * @since 0.1.0
 */
export const deleteStream = (transactionId: number, streamId: number): RtmpMessage =>
  command("deleteStream", transactionId, null, [streamId])

/**
 * The info object of an `onStatus` or `_error` (level, code, description; `tcUrl` of a reconnect request).
 *
 * @since 0.1.0
 */
export const StatusInfo = Schema.Struct({
  level: Schema.optional(Schema.String),
  code: Schema.String,
  description: Schema.optional(Schema.String),
  /** The URL to reconnect to, in `NetConnection.Connect.ReconnectRequest` (Enhanced RTMP v2). */
  tcUrl: Schema.optional(Schema.String)
})

/**
 * The info object of an `onStatus` or `_error`.
 *
 * @since 0.1.0
 */
export type StatusInfo = typeof StatusInfo.Type

const decodeStatus = Schema.decodeUnknownOption(StatusInfo)

/**
 * A command from the server, in the shapes a publisher acts on.
 *
 * @since 0.1.0
 */
export type ServerCommand =
  | { readonly _tag: "Result"; readonly transactionId: number; readonly values: ReadonlyArray<Amf0.Amf0Value> }
  | { readonly _tag: "Error"; readonly transactionId: number; readonly info: StatusInfo }
  | { readonly _tag: "OnStatus"; readonly streamId: number; readonly info: StatusInfo }
  | { readonly _tag: "Other"; readonly name: string; readonly transactionId: number }

/**
 * Reads an AMF0 command message from the server. Returns the AMF0 decoding error as is; a well-formed
 * command of an unknown name is `Other`.
 *
 * @since 0.1.0
 */
export const parse = (message: DecodedMessage): Result.Result<ServerCommand, ProtocolError> =>
  Result.map(Amf0.decode(message.payload), (values): ServerCommand => {
    const name = typeof values[0] === "string" ? values[0] : ""
    const transactionId = typeof values[1] === "number" ? values[1] : 0
    switch (name) {
      case "_result":
        return { _tag: "Result", transactionId, values: values.slice(2) }
      case "_error":
        return { _tag: "Error", transactionId, info: statusOf(values) }
      case "onStatus":
        return { _tag: "OnStatus", streamId: message.streamId, info: statusOf(values) }
      default:
        return { _tag: "Other", name, transactionId }
    }
  })

/** The info object is the 4th value (after name, transaction id and a null command object). */
const statusOf = (values: ReadonlyArray<Amf0.Amf0Value>): StatusInfo =>
  Option.getOrElse(
    decodeStatus(values[3] ?? values[2]),
    () => ({ level: "error", code: "NetConnection.Unknown", description: "the server sent no status object" })
  )
