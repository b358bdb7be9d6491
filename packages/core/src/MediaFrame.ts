/**
 * A media frame: what every demuxer produces and the FLV muxer turns into RTMP message bodies.
 *
 * @since 0.1.0
 */

/**
 * One frame of one track. Timestamps are in milliseconds.
 *
 * - video `avc`: `payload` is the AVC payload without the FLV video header (length-prefixed NAL units),
 *   or, when `config`, the AVCDecoderConfigurationRecord;
 * - audio `aac`: `payload` is the raw AAC frame, or, when `config`, the AudioSpecificConfig;
 * - audio of other legacy codecs (`mp3`, ...): the bytes after the FLV audio header byte;
 * - `data`: an AMF0 script data body as found in an FLV script tag (`"onMetaData", {...}`).
 *
 * @since 0.1.0
 */
export interface MediaFrame {
  readonly kind: "video" | "audio" | "data"
  /** `avc`, `aac`, `mp3`, ... or `amf0` for data. */
  readonly codec: string
  /** Decode timestamp, ms. */
  readonly dts: number
  /** Composition time offset (pts - dts), ms; 0 where the codec has none. */
  readonly cts: number
  readonly keyframe: boolean
  /** A codec configuration record (sequence header), not a coded frame. */
  readonly config: boolean
  readonly payload: Uint8Array
  /**
   * For legacy FLV audio: the original audio tag header byte (SoundFormat, SoundRate, SoundSize,
   * SoundType) so that it is reproduced exactly. Absent: derived from the codec.
   */
  readonly audioFlags?: number | undefined
}
