/**
 * effect-rtmp: an RTMP/RTMPS publishing client on Effect.
 *
 * @since 0.1.0
 */
export * as Acknowledgements from "./Acknowledgements.ts"
export * as Amf0 from "./Amf0.ts"
export * as Auth from "./Auth.ts"
export * as ChunkDecoder from "./ChunkDecoder.ts"
export * as ChunkEncoder from "./ChunkEncoder.ts"
export * as Commands from "./Commands.ts"
export * as EnhancedRtmp from "./EnhancedRtmp.ts"
export * as FlvDemuxer from "./FlvDemuxer.ts"
export * as FlvMuxer from "./FlvMuxer.ts"
export * as Handshake from "./Handshake.ts"
export type { AudioCodec, MediaFrame, VideoCodec } from "./MediaFrame.ts"
export * as MediaSource from "./MediaSource.ts"
export * as Message from "./Message.ts"
export * as Metadata from "./Metadata.ts"
export * as Mp4Demuxer from "./Mp4Demuxer.ts"
export * as Probe from "./Probe.ts"
export * as ProtocolControl from "./ProtocolControl.ts"
export * as Publisher from "./Publisher.ts"
export * as Realtime from "./Realtime.ts"
export * as ReplayBuffer from "./ReplayBuffer.ts"
export * as RetryPolicy from "./RetryPolicy.ts"
export * from "./RtmpError.ts"
export * as SendQueue from "./SendQueue.ts"
export * as Session from "./Session.ts"
export * as Telemetry from "./Telemetry.ts"
export * as Url from "./Url.ts"
export {
  ConnectFailed,
  ConnectionReset,
  Timeout,
  TlsError,
  type TransportError,
  UnexpectedEof
} from "@effect-rtmp/transport"
