/**
 * A media frame: what every demuxer produces and the FLV muxer turns into RTMP message bodies.
 *
 * @since 0.1.0
 */

/**
 * Video codec names. What `payload` holds for each is the layout of an MP4 sample of that codec (coded
 * frames) or the content of its MP4 configuration box (`config: true`):
 *
 * - `avc`: one access unit as length-prefixed NAL units (AVCC), full frames; config: the
 *   AVCDecoderConfigurationRecord (`avcC`). Legacy CodecID 7 by default, FourCC `avc1` when asked or on a
 *   track other than 0;
 * - `hevc`: one access unit as length-prefixed NAL units, full frames; config: the
 *   HEVCDecoderConfigurationRecord (`hvcC`). FourCC `hvc1`;
 * - `vvc`: as `hevc`; config: the VVCDecoderConfigurationRecord (`vvcC` after its 4-byte FullBox
 *   header). FourCC `vvc1`;
 * - `av1`: one temporal unit as OBUs in the low-overhead format (each with `obu_has_size_field`), as in an
 *   `av01` sample; config: the AV1CodecConfigurationRecord (`av1C`, starting `0x81`). FourCC `av01`;
 * - `vp9`: one frame (or superframe), as in a `vp09` sample; config: the VPCodecConfigurationRecord, that
 *   is the `vpcC` content after its 4-byte FullBox header (profile, level, bit depth / chroma / range,
 *   colour primaries, transfer, matrix, UI16 init data size: 8 bytes; FFmpeg's form). FourCC `vp09`;
 * - `vp8`: as `vp9`. FourCC `vp08`.
 *
 * `cts` (composition time offset) travels for `avc`, `hevc` and `vvc` only; the others have none (0).
 *
 * @since 0.1.0
 */
export type VideoCodec = "avc" | "hevc" | "vvc" | "av1" | "vp9" | "vp8"

/**
 * Audio codec names, and what `payload` holds for each:
 *
 * - `aac`: one raw AAC access unit (no ADTS header); config: the AudioSpecificConfig (ISO/IEC 14496-3,
 *   the DecoderSpecificInfo of `esds`). Legacy SoundFormat 10 by default, FourCC `mp4a` when asked or on
 *   a track other than 0;
 * - `opus`: one Opus packet (RFC 6716; several streams packed as RFC 7845 says), as in an `Opus` sample;
 *   config: the Opus ID header `OpusHead` (RFC 7845 5.1: magic, version 1, channel count, pre-skip and
 *   input sample rate little-endian, gain, mapping family and table), which an MP4 `dOps` box must be
 *   converted to. FourCC `Opus`;
 * - `flac`: one FLAC frame, frame header included; config: `"fLaC"` then the STREAMINFO metadata block,
 *   its block header included (from MP4: `"fLaC"` + the `dfLa` content after its 4-byte FullBox header).
 *   FourCC `fLaC`;
 * - `ac3` / `eac3`: one or more AC-3 / E-AC-3 syncframes; config: the spec defines none; FFmpeg sends an
 *   empty one, which is optional. FourCC `ac-3` / `ec-3`;
 * - `mp3`: MP3 frame(s); no config. Legacy SoundFormat 2 by default, FourCC `.mp3` when asked or on a
 *   track other than 0.
 *
 * Other legacy FLV formats pass through with the bytes after the 1-byte FLV audio header: `pcm`, `adpcm`,
 * `pcm_le`, `nellymoser_16k`, `nellymoser_8k`, `nellymoser`, `g711a`, `g711u`, `speex`, `mp3_8k`, `device`.
 *
 * @since 0.1.0
 */
export type AudioCodec = "aac" | "opus" | "flac" | "ac3" | "eac3" | "mp3"

/**
 * One frame of one track. Timestamps are in milliseconds.
 *
 * - video: `payload` is the coded frame without any FLV header, or, when `config`, the codec
 *   configuration record; see {@link VideoCodec} for each codec's layout;
 * - audio: `payload` is the coded frame, or, when `config`, the codec configuration; see {@link AudioCodec}
 *   (for legacy FLV codecs other than AAC: the bytes after the FLV audio header byte);
 * - `data`: an AMF0 script data body as found in an FLV script tag (`"onMetaData", {...}`).
 *
 * Besides coded frames and configuration records, a frame can be one of the Enhanced RTMP signals, each
 * flagged by its own field (at most one of `config`, `endOfSequence`, `metadata`, `multichannelConfig` is
 * set): the end of a sequence, video metadata (HDR `colorInfo`), or an audio channel layout.
 *
 * Frames of several tracks of one kind (Enhanced RTMP multitrack: several renditions, languages or
 * codecs in one stream) carry their `track` id; the default track is 0.
 *
 * @since 0.1.0
 */
export interface MediaFrame {
  readonly kind: "video" | "audio" | "data"
  /** A {@link VideoCodec}, an {@link AudioCodec}, a legacy FLV audio codec (`pcm`, ...), or `amf0` for data. */
  readonly codec: string
  /** Decode timestamp, ms. */
  readonly dts: number
  /** Composition time offset (pts - dts), ms; 0 where the codec has none. */
  readonly cts: number
  readonly keyframe: boolean
  /** A codec configuration record (sequence header, Enhanced RTMP SequenceStart), not a coded frame. */
  readonly config: boolean
  readonly payload: Uint8Array
  /**
   * For legacy FLV audio: the original audio tag header byte (SoundFormat, SoundRate, SoundSize,
   * SoundType) so that it is reproduced exactly. Absent: derived from the codec.
   */
  readonly audioFlags?: number | undefined
  /**
   * The track id (0-255) for Enhanced RTMP multitrack. Absent or 0: the default track, sent without a
   * multitrack header (unless grouped with other tracks); any other id is sent in a multitrack message.
   *
   * @since 0.1.0
   */
  readonly track?: number | undefined
  /**
   * The end of the sequence (AVC end of sequence, AVCPacketType 2; Enhanced RTMP SequenceEnd): no frame
   * follows in this sequence. `payload` is empty (whatever it holds is sent after the header).
   *
   * @since 0.1.0
   */
  readonly endOfSequence?: boolean | undefined
  /**
   * Video only: an Enhanced RTMP Metadata packet (VideoPacketType 4), `payload` AMF0-encoded
   * `[name, value]` pairs; the one the spec defines is `"colorInfo", { colorConfig, hdrCll, hdrMdcv }`
   * (HDR metadata). Sent with FrameType 5, as FFmpeg does (the spec says the frame type is ignored).
   *
   * @since 0.1.0
   */
  readonly metadata?: boolean | undefined
  /**
   * Audio only: an Enhanced RTMP MultichannelConfig packet (AudioPacketType 4): `payload` is
   * `AudioChannelOrder (UI8), channelCount (UI8)`, then for order Custom (2) one `AudioChannel` byte per
   * channel, for order Native (1) an `AudioChannelMask` (UI32). Needed when the codec does not describe its
   * channel layout itself.
   *
   * @since 0.1.0
   */
  readonly multichannelConfig?: boolean | undefined
  /**
   * Nanoseconds (0-999999) to add to `dts` (and so to the presentation time) for sub-millisecond timing:
   * Enhanced RTMP ModEx TimestampOffsetNano. Absent: no ModEx is sent. Forces the Enhanced RTMP header.
   *
   * @since 0.1.0
   */
  readonly timestampOffsetNano?: number | undefined
}
