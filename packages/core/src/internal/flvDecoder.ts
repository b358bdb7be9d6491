/**
 * The synchronous, IO-free FLV decoder: push bytes in, get `MediaFrame`s, "need more input", the end, or
 * an `InvalidMedia` out. `FlvDemuxer.demux` wraps it in a Stream.
 *
 * Layout (FLV spec v10.1, annex E): a header `"FLV"`, version, flags, u32 DataOffset; then, from
 * DataOffset on, `PreviousTagSize0` (u32) and a sequence of tags, each an 11-byte tag header (reserved 2
 * bits, Filter bit, TagType 5 bits, u24 DataSize, u24 Timestamp, u8 TimestampExtended, u24 StreamID),
 * DataSize bytes of tag body, and a u32 PreviousTagSize.
 *
 * @internal
 */
import type { MediaFrame } from "../MediaFrame.ts"
import type { InvalidMedia } from "../RtmpError.ts"
import * as ExTagReader from "./exTagReader.ts"

import { ByteDecoder, End, NeedInput, type Status } from "./frameDecoder.ts"

export { End, NeedInput, type Status }

/** FLV tag types. */
const TagAudio = 8
const TagVideo = 9
const TagScript = 18

const FileHeaderSize = 9
const PreviousTagSizeSize = 4
const TagHeaderSize = 11

/** Legacy FLV SoundFormat (upper nibble of the audio tag header byte) to codec name. 10 (AAC) and 9 are special. */
const soundFormatNames: ReadonlyArray<string | undefined> = [
  "pcm", // 0: linear PCM, platform endian
  "adpcm", // 1
  "mp3", // 2
  "pcm_le", // 3: linear PCM, little endian
  "nellymoser_16k", // 4
  "nellymoser_8k", // 5
  "nellymoser", // 6
  "g711a", // 7
  "g711u", // 8
  undefined, // 9: reserved; the Enhanced RTMP audio ExHeader marker
  "aac", // 10
  "speex", // 11
  undefined, // 12: reserved
  undefined, // 13: reserved
  "mp3_8k", // 14
  "device" // 15: device-specific sound
]

/** Legacy FLV video CodecID (lower nibble of the video tag header byte) to a readable name, for errors. */
const videoCodecNames: Readonly<Record<number, string>> = {
  1: "JPEG",
  2: "Sorenson H.263",
  3: "Screen video",
  4: "On2 VP6",
  5: "On2 VP6 with alpha",
  6: "Screen video v2",
  7: "H.264/AVC",
  12: "HEVC (non-standard codec id 12)"
}

const AvcCodecId = 7
const AacSoundFormat = 10
const ExHeaderAudioSoundFormat = 9
const VideoExHeaderBit = 0x80
const VideoCommandFrame = 5

/**
 * One FLV input being decoded. Not thread-safe, not reusable: one per input.
 *
 * @internal
 */
export class FlvDecoder extends ByteDecoder {
  private phase: "fileHeader" | "skip" | "tags" | "done" = "fileHeader"
  /** Bytes still to skip between the file header and DataOffset. */
  private toSkip = 0
  /** Bytes the tag being read needs in all: `decode` waits for them without parsing its header again. */
  private waitFor = 0

  protected run(out: Array<MediaFrame>): Status {
    const q = this.queue
    for (;;) {
      switch (this.phase) {
        case "done":
          return End
        case "fileHeader": {
          // Fail as early as the bytes allow, so that a non-FLV pipe is reported without waiting for more
          for (let i = 0; i < Math.min(3, q.available); i++) {
            if (q.byteAt(i) !== "FLV".charCodeAt(i)) {
              return this.error("not an FLV file (no \"FLV\" signature)", 0)
            }
          }
          if (q.available < FileHeaderSize) {
            if (!this.ended) return NeedInput
            return q.available === 0 && q.consumed === 0
              ? this.error("empty input (0 bytes), expected an FLV file", 0)
              : this.error(`truncated FLV header (${q.available} of ${FileHeaderSize} bytes)`, 0)
          }
          const h = q.peek(FileHeaderSize)
          const dataOffset = ((h[5]! << 24) | (h[6]! << 16) | (h[7]! << 8) | h[8]!) >>> 0
          if (dataOffset < FileHeaderSize) {
            return this.error(`invalid FLV header: DataOffset ${dataOffset} is less than ${FileHeaderSize}`, 5)
          }
          q.skip(FileHeaderSize)
          this.toSkip = dataOffset - FileHeaderSize
          this.phase = "skip"
          break
        }
        case "skip": {
          const n = Math.min(this.toSkip, q.available)
          q.skip(n)
          this.toSkip -= n
          if (this.toSkip > 0) {
            if (!this.ended) return NeedInput
            return this.error("input ends before the FLV header's DataOffset", q.consumed)
          }
          this.phase = "tags"
          break
        }
        case "tags": {
          // PreviousTagSize, then the tag header
          if (q.available < this.waitFor && !this.ended) return NeedInput
          const need = PreviousTagSizeSize + TagHeaderSize
          if (q.available < need) {
            if (!this.ended) return NeedInput
            // Clean end: after a tag body, with or without its trailing PreviousTagSize
            if (q.available === 0 || q.available === PreviousTagSizeSize) {
              q.skip(q.available)
              this.phase = "done"
              return this.reachedEnd()
            }
            return q.available < PreviousTagSizeSize
              ? this.error(`truncated PreviousTagSize (${q.available} of 4 bytes)`, q.consumed)
              : this.error(
                `truncated FLV tag header (${q.available - PreviousTagSizeSize} of ${TagHeaderSize} bytes)`,
                q.consumed + PreviousTagSizeSize
              )
          }
          const h = q.peek(need)
          const flags = h[4]!
          const size = (h[5]! << 16) | (h[6]! << 8) | h[7]!
          const tagOffset = q.consumed + PreviousTagSizeSize
          if (q.available < need + size) {
            this.waitFor = need + size
            if (!this.ended) return NeedInput
            return this.error(
              `truncated FLV tag (type ${flags & 0x1f}, ${size} body bytes declared, ${
                q.available - need
              } present)`,
              tagOffset
            )
          }
          const dts = ((h[8]! << 16) | (h[9]! << 8) | h[10]! | (h[11]! << 24)) >>> 0
          if ((flags & 0x20) !== 0) {
            return this.error("encrypted FLV tags (Filter bit set) are not supported", tagOffset)
          }
          this.waitFor = 0
          q.skip(need)
          // Zero-length tags carry nothing: skipped
          if (size === 0) break
          const body = q.take(size)
          const result = this.tag(flags & 0x1f, dts, body, tagOffset, out)
          if (result !== undefined) return result
          break
        }
      }
    }
  }

  /** One tag body (non-empty) to the frames it holds, appended to `out` (none to drop it), or an error. */
  private tag(
    type: number,
    dts: number,
    body: Uint8Array,
    offset: number,
    out: Array<MediaFrame>
  ): InvalidMedia | undefined {
    switch (type) {
      case TagAudio:
        return this.audio(dts, body, offset, out)
      case TagVideo:
        return this.video(dts, body, offset, out)
      case TagScript:
        out.push({
          kind: "data",
          codec: "amf0",
          dts,
          cts: 0,
          keyframe: false,
          config: false,
          payload: body,
          audioFlags: undefined
        })
        return undefined
      default:
        // Reserved tag types: not media, skipped (as ffmpeg does)
        return undefined
    }
  }

  private audio(dts: number, body: Uint8Array, offset: number, out: Array<MediaFrame>): InvalidMedia | undefined {
    const flags = body[0]!
    const format = flags >> 4
    if (format === ExHeaderAudioSoundFormat) {
      const reason = ExTagReader.readAudio(dts, body, out)
      return reason === undefined ? undefined : this.error(reason, offset)
    }
    if (format === AacSoundFormat) {
      if (body.length < 2) return this.error("AAC audio tag without AACPacketType", offset)
      const packetType = body[1]!
      if (packetType > 1) return this.error(`unknown AACPacketType ${packetType}`, offset)
      out.push({
        kind: "audio",
        codec: "aac",
        dts,
        cts: 0,
        keyframe: true,
        config: packetType === 0,
        payload: body.subarray(2),
        audioFlags: flags
      })
      return undefined
    }
    const codec = soundFormatNames[format]
    if (codec === undefined) return this.error(`unsupported audio codec: reserved SoundFormat ${format}`, offset)
    out.push({
      kind: "audio",
      codec,
      dts,
      cts: 0,
      keyframe: true,
      config: false,
      payload: body.subarray(1),
      audioFlags: flags
    })
    return undefined
  }

  private video(dts: number, body: Uint8Array, offset: number, out: Array<MediaFrame>): InvalidMedia | undefined {
    const b0 = body[0]!
    if ((b0 & VideoExHeaderBit) !== 0) {
      const reason = ExTagReader.readVideo(dts, body, out)
      return reason === undefined ? undefined : this.error(reason, offset)
    }
    const frameType = b0 >> 4
    const codecId = b0 & 0x0f
    // Video info/command frames (seek start/end markers) carry no picture: dropped
    if (frameType === VideoCommandFrame) return undefined
    if (codecId !== AvcCodecId) {
      const name = videoCodecNames[codecId] ?? "unknown"
      return this.error(
        `unsupported video codec ${name} (FLV CodecID ${codecId}); only H.264/AVC (CodecID 7) and the ` +
          `Enhanced RTMP codecs are supported; re-encode the video, e.g. ffmpeg -i in.flv -c:v libx264 -c:a copy out.flv`,
        offset
      )
    }
    if (body.length < 5) return this.error(`AVC video tag of ${body.length} bytes, shorter than its 5-byte header`, offset)
    const packetType = body[1]!
    // SI24, sign-extended
    const cts = ((body[2]! << 24) | (body[3]! << 16) | (body[4]! << 8)) >> 8
    switch (packetType) {
      case 0:
      case 1:
        out.push({
          kind: "video",
          codec: "avc",
          dts,
          cts,
          keyframe: frameType === 1,
          config: packetType === 0,
          payload: body.subarray(5),
          audioFlags: undefined
        })
        return undefined
      case 2:
        // AVC end of sequence: forwarded (FFmpeg ends its publishes with one too)
        out.push({
          kind: "video",
          codec: "avc",
          dts,
          cts,
          keyframe: frameType === 1,
          config: false,
          payload: body.subarray(5),
          audioFlags: undefined,
          endOfSequence: true
        })
        return undefined
      default:
        return this.error(`unknown AVCPacketType ${packetType}`, offset)
    }
  }
}
