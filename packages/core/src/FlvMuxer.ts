/**
 * FLV muxing for RTMP: a `MediaFrame` to the RTMP message that carries it, whose body is a legacy FLV tag
 * body (RTMP audio/video/data messages are FLV tag bodies without the tag header). The header bytes go in
 * a piece of their own beside the payload: the media payload is never copied.
 *
 * For frames read by `FlvDemuxer` the bodies are byte-identical to the file's tag bodies, except that
 * `onMetaData` goes out as `@setDataFrame("onMetaData", ...)`, the form servers store and replay to players.
 *
 * @since 0.1.0
 */
import type { MediaFrame } from "./MediaFrame.ts"
import { MessageType, type RtmpMessage } from "./Message.ts"

const amf0String = (s: string): Uint8Array => {
  const bytes = new TextEncoder().encode(s)
  const out = new Uint8Array(3 + bytes.length)
  out[0] = 0x02
  out[1] = bytes.length >> 8
  out[2] = bytes.length & 0xff
  out.set(bytes, 3)
  return out
}

/** AMF0 string `"@setDataFrame"`: `02 00 0d "@setDataFrame"`. */
const setDataFrame = amf0String("@setDataFrame")
/** AMF0 string `"onMetaData"`: `02 00 0a "onMetaData"`. */
const onMetaData = amf0String("onMetaData")

const startsWith = (bytes: Uint8Array, prefix: Uint8Array): boolean => {
  if (bytes.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false
  return true
}

/** Legacy FLV SoundFormat of each codec name `FlvDemuxer` produces, for frames without `audioFlags`. */
const soundFormats: Readonly<Record<string, number>> = {
  pcm: 0,
  adpcm: 1,
  mp3: 2,
  pcm_le: 3,
  nellymoser_16k: 4,
  nellymoser_8k: 5,
  nellymoser: 6,
  g711a: 7,
  g711u: 8,
  aac: 10,
  speex: 11,
  mp3_8k: 14,
  device: 15
}

/** Audio header pieces are one or two bytes from a small set: made once, shared by every message. */
const audioHeaders1 = new Map<number, Uint8Array>()
const audioHeaders2 = new Map<number, Uint8Array>()
const audioHeader1 = (flags: number): Uint8Array => {
  let header = audioHeaders1.get(flags)
  if (header === undefined) audioHeaders1.set(flags, header = Uint8Array.of(flags))
  return header
}
const audioHeader2 = (flags: number, packetType: number): Uint8Array => {
  const key = (flags << 8) | packetType
  let header = audioHeaders2.get(key)
  if (header === undefined) audioHeaders2.set(key, header = Uint8Array.of(flags, packetType))
  return header
}

/**
 * The default audio header byte for a codec: SoundRate 44 kHz (3), 16-bit samples, stereo, which is what
 * AAC requires (`0xAF`) and a neutral choice for the others. Frames read from FLV keep their own byte.
 */
const defaultAudioFlags = (codec: string): number => {
  const format = soundFormats[codec]
  if (format === undefined) {
    throw new Error(`FlvMuxer: audio codec "${codec}" has no legacy FLV SoundFormat; give audioFlags`)
  }
  return (format << 4) | 0x0f
}

/**
 * The RTMP message for a media frame, sent on message stream `streamId` with `timestamp = dts`:
 *
 * - video `avc` (type 9): `[FrameType << 4 | 7, AVCPacketType, CompositionTime (SI24)]` + payload; FrameType
 *   is 1 (key) for keyframes and config records, else 2; AVCPacketType 0 for config, else 1;
 * - audio `aac` (type 8): `[audioFlags ?? 0xAF, AACPacketType]` + payload; other legacy audio:
 *   `[audioFlags]` + payload (the flags derived from the codec when absent);
 * - data (type 18): the AMF0 body, prefixed with `"@setDataFrame"` when it starts with `"onMetaData"`.
 *
 * Use it on every frame between `publish` and the end of the stream, in order. A frame no legacy FLV body
 * can carry (video other than `avc`, an audio codec unknown to FLV without `audioFlags`) is a programming
 * error and throws: demuxers reject such input earlier, as `InvalidMedia`.
 *
 * @since 0.1.0
 */
export const toMessage = (frame: MediaFrame, streamId: number): RtmpMessage => {
  switch (frame.kind) {
    case "video": {
      if (frame.codec !== "avc") {
        throw new Error(`FlvMuxer: video codec "${frame.codec}" is not supported (only avc)`)
      }
      const header = new Uint8Array(5)
      header[0] = ((frame.keyframe || frame.config ? 1 : 2) << 4) | 7
      header[1] = frame.config ? 0 : 1
      const cts = frame.cts
      header[2] = (cts >> 16) & 0xff
      header[3] = (cts >> 8) & 0xff
      header[4] = cts & 0xff
      return { typeId: MessageType.Video, streamId, timestamp: frame.dts, payload: [header, frame.payload] }
    }
    case "audio": {
      const header = frame.codec === "aac"
        ? audioHeader2(frame.audioFlags ?? 0xaf, frame.config ? 0 : 1)
        : audioHeader1(frame.audioFlags ?? defaultAudioFlags(frame.codec))
      return { typeId: MessageType.Audio, streamId, timestamp: frame.dts, payload: [header, frame.payload] }
    }
    case "data": {
      const payload = startsWith(frame.payload, onMetaData) ? [setDataFrame, frame.payload] : frame.payload
      return { typeId: MessageType.DataAmf0, streamId, timestamp: frame.dts, payload }
    }
  }
}
