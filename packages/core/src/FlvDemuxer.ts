/**
 * FLV demuxing: the bytes of an FLV file (or of a pipe) to `MediaFrame`s, incrementally, never holding
 * more than the tag being read. Legacy FLV and Enhanced RTMP / Enhanced FLV (as FFmpeg 6.1 and later
 * write it) alike.
 *
 * What comes out, tag by tag:
 *
 * - script data (type 18): `{ kind: "data", codec: "amf0" }`, the whole tag body (`"onMetaData", {...}`);
 * - video (type 9), legacy H.264/AVC (CodecID 7): `codec: "avc"`, `keyframe` for FrameType 1, `config`
 *   for the AVCDecoderConfigurationRecord (AVCPacketType 0), `endOfSequence` for the end of sequence
 *   (AVCPacketType 2), `cts` the signed CompositionTime, `payload` the bytes after the 5-byte video
 *   header. Video info/command frames (FrameType 5) carry no picture and are dropped;
 * - video with an ExVideoTagHeader (bit 7 of byte 0): the codec of the FourCC (`hvc1` -> `hevc`, `av01` ->
 *   `av1`, `vp09` -> `vp9`, `vp08` -> `vp8`, `avc1` -> `avc`, `vvc1` -> `vvc`), `config` for
 *   SequenceStart, `cts` from CodedFrames of `hvc1`/`avc1`/`vvc1` (0 for CodedFramesX and the others),
 *   `endOfSequence` for SequenceEnd, `metadata` for Metadata (`colorInfo`); command frames are dropped;
 * - audio (type 8), AAC (SoundFormat 10): `codec: "aac"`, `config` for the AudioSpecificConfig (AACPacketType
 *   0), `payload` after the 2-byte audio header; other legacy formats (`mp3`, `pcm`, `speex`, ...) pass
 *   through with the bytes after the 1-byte header. `audioFlags` keeps the header byte; audio frames are
 *   `keyframe: true`;
 * - audio with an ExAudioTagHeader (SoundFormat 9): the codec of the FourCC (`Opus`, `fLaC`, `ac-3`,
 *   `ec-3`, `.mp3`, `mp4a`), `config` for SequenceStart, `endOfSequence` for SequenceEnd,
 *   `multichannelConfig` for MultichannelConfig;
 * - Enhanced RTMP multitrack messages give one frame per track, each with its `track` id, in message order;
 *   a ModEx TimestampOffsetNano gives `timestampOffsetNano` (other ModEx types are skipped).
 *
 * Timestamps are the file's own (`Timestamp | TimestampExtended << 24`, unsigned 32-bit ms): never rebased.
 * Zero-length tags and reserved tag types are skipped. PreviousTagSize fields are not checked (some writers
 * put 0 there). Other video codecs (legacy CodecIDs other than 7, unknown FourCCs), MPEG2TSSequenceStart,
 * reserved SoundFormats, encrypted tags, a missing signature, an empty input and a truncated tag or
 * Enhanced RTMP header fail with `InvalidMedia` (with the byte offset of the tag).
 *
 * Payloads are subarrays of the input chunks when a tag lies within one chunk; a tag that spans chunks
 * is copied once.
 *
 * @since 0.1.0
 */
import type * as Stream from "effect/Stream"
import { FlvDecoder } from "./internal/flvDecoder.ts"
import { decodeFrames } from "./internal/frameDecoder.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import { InvalidMedia } from "./RtmpError.ts"

/**
 * Demuxes a stream of FLV bytes into media frames, in file order.
 *
 * Use it on any byte source: `MediaSource.fromFile`, `MediaSource.fromStdin`, a socket, a test array
 * (`MediaSource.frames` does both steps for a path or `-`). `source` names the input in errors. The
 * input is read as the output is pulled; each output batch holds the frames found in one input batch.
 *
 * @example
 * ```ts
 * import { FlvDemuxer, MediaSource } from "@effect-rtmp/core"
 *
 * const frames = MediaSource.fromFile("in.flv").pipe(FlvDemuxer.demux("in.flv"))
 * ```
 *
 * @since 0.1.0
 */
export const demux = (source: string) =>
<E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<MediaFrame, E | InvalidMedia, R> =>
  decodeFrames(bytes, () => new FlvDecoder(source))
