/**
 * A minimal FLV file reader for tests: the tags exactly as stored, so a test can compare the message bodies
 * a server recorded with the ones it sent, byte for byte. Independent of the project's own FLV code on
 * purpose (a test oracle must not share the code under test).
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"

/** What a tag carries, as far as a publisher is concerned. */
export type FlvTagKind =
  /** A codec configuration record: AVC/HEVC decoder configuration, AAC AudioSpecificConfig, Enhanced RTMP sequence start. */
  | "config"
  /** A coded frame. */
  | "media"
  /** A script data tag (`onMetaData`). */
  | "script"
  /** Anything else (end of sequence, Enhanced RTMP metadata, unknown tag types). */
  | "other"

/** One FLV tag. */
export interface FlvTag {
  /** 8 audio, 9 video, 18 script data. */
  readonly type: number
  readonly track: "audio" | "video" | "script" | "other"
  readonly kind: FlvTagKind
  /** The tag's timestamp in milliseconds (24 bits + extension byte): the RTMP message timestamp, a DTS. */
  readonly timestamp: number
  /** Video: the composition time offset (PTS - DTS, ms) of AVC/HEVC frames; 0 otherwise. */
  readonly cts: number
  /** Video: frame type 1 (keyframe). */
  readonly keyframe: boolean
  /** The tag body: what travels as the RTMP message payload. */
  readonly body: Buffer
  /** md5 of `body`, hex. */
  readonly md5: string
  /** Offset of the tag header in the file. */
  readonly offset: number
}

/** A parsed FLV file. */
export interface FlvFile {
  readonly hasAudio: boolean
  readonly hasVideo: boolean
  readonly tags: ReadonlyArray<FlvTag>
  /** True when the file ended in the middle of a tag (an unfinished recording). */
  readonly truncated: boolean
}

const VIDEO_FOURCC_EX_HEADER = 0x80

const classifyVideo = (body: Buffer): { kind: FlvTagKind; cts: number; keyframe: boolean } => {
  if (body.length === 0) return { kind: "other", cts: 0, keyframe: false }
  const first = body[0]!
  if ((first & VIDEO_FOURCC_EX_HEADER) !== 0) {
    // Enhanced RTMP: [isExHeader:1][frameType:3][packetType:4][fourcc:4]...
    const frameType = (first >> 4) & 0x07
    const packetType = first & 0x0f
    const keyframe = frameType === 1
    if (packetType === 0) return { kind: "config", cts: 0, keyframe }
    if (packetType === 1 && body.length >= 8) return { kind: "media", cts: body.readIntBE(5, 3), keyframe }
    if (packetType === 3) return { kind: "media", cts: 0, keyframe } // CodedFramesX
    return { kind: "other", cts: 0, keyframe }
  }
  const frameType = first >> 4
  const codecId = first & 0x0f
  const keyframe = frameType === 1
  if (frameType === 5) return { kind: "other", cts: 0, keyframe } // video info / command frame
  if (codecId === 7 || codecId === 12) {
    const packetType = body[1]
    if (packetType === 0) return { kind: "config", cts: 0, keyframe }
    if (packetType === 1) return { kind: "media", cts: body.length >= 5 ? body.readIntBE(2, 3) : 0, keyframe }
    return { kind: "other", cts: 0, keyframe }
  }
  return { kind: "media", cts: 0, keyframe }
}

const classifyAudio = (body: Buffer): FlvTagKind => {
  if (body.length === 0) return "other"
  const soundFormat = body[0]! >> 4
  if (soundFormat === 10) return body[1] === 0 ? "config" : "media"
  if (soundFormat === 9) {
    // Enhanced RTMP audio: [soundFormat=9:4][packetType:4][fourcc:4]
    const packetType = body[0]! & 0x0f
    return packetType === 0 ? "config" : packetType === 1 ? "media" : "other"
  }
  return "media"
}

/** Parse an FLV file held in memory. Tolerates a truncated last tag (reported by `truncated`). */
export const parseFlv = (data: Buffer): FlvFile => {
  if (data.length < 9 || data.toString("latin1", 0, 3) !== "FLV") {
    throw new Error(`not an FLV file (${data.length} bytes, starts with ${data.subarray(0, 3).toString("hex")})`)
  }
  const flags = data[4]!
  let offset = data.readUInt32BE(5) + 4 // header, then PreviousTagSize0
  const tags: Array<FlvTag> = []
  let truncated = false
  while (offset < data.length) {
    if (offset + 11 > data.length) {
      truncated = true
      break
    }
    const type = data[offset]! & 0x1f
    const size = data.readUIntBE(offset + 1, 3)
    const timestamp = (data.readUIntBE(offset + 4, 3) | (data[offset + 7]! << 24)) >>> 0
    const end = offset + 11 + size
    if (end + 4 > data.length) {
      truncated = true
      break
    }
    const body = data.subarray(offset + 11, end)
    const md5 = createHash("md5").update(body).digest("hex")
    if (type === 9) {
      const { cts, keyframe, kind } = classifyVideo(body)
      tags.push({ type, track: "video", kind, timestamp, cts, keyframe, body, md5, offset })
    } else if (type === 8) {
      tags.push({ type, track: "audio", kind: classifyAudio(body), timestamp, cts: 0, keyframe: false, body, md5, offset })
    } else if (type === 18) {
      tags.push({ type, track: "script", kind: "script", timestamp, cts: 0, keyframe: false, body, md5, offset })
    } else {
      tags.push({ type, track: "other", kind: "other", timestamp, cts: 0, keyframe: false, body, md5, offset })
    }
    offset = end + 4
  }
  return { hasAudio: (flags & 4) !== 0, hasVideo: (flags & 1) !== 0, tags, truncated }
}

/** Read and parse an FLV file. */
export const readFlv = async (file: string): Promise<FlvFile> => parseFlv(await fs.readFile(file))

/** Options of {@link compareFlvTags}. */
export interface FlvTagComparisonOptions {
  /** Which tag kinds to compare. Default `["config", "media"]` (servers rewrite `onMetaData`). */
  readonly kinds?: ReadonlyArray<FlvTagKind> | undefined
  /**
   * Compare the timestamps of media tags too, allowing one constant offset per track (taken from the first
   * media tag of that track). Default true. `false` compares bodies only. Config tags are compared by body
   * and position only: servers restamp the sequence headers they cache (nginx-rtmp writes them at 0).
   */
  readonly timestamps?: boolean | undefined
  /**
   * Ignore repeated identical config tags (a server may resend the sequence header it cached). Default true.
   */
  readonly dedupeConfig?: boolean | undefined
}

const selectTrack = (
  file: FlvFile,
  track: "audio" | "video",
  kinds: ReadonlyArray<FlvTagKind>,
  dedupeConfig: boolean
): Array<FlvTag> => {
  const out: Array<FlvTag> = []
  let lastConfig: string | undefined
  for (const tag of file.tags) {
    if (tag.track !== track || !kinds.includes(tag.kind)) continue
    if (tag.kind === "config" && dedupeConfig) {
      if (tag.md5 === lastConfig) continue
      lastConfig = tag.md5
    }
    out.push(tag)
  }
  return out
}

/**
 * Compare the audio and video tags of two FLV files: same bodies in the same order per track, and (by
 * default) the same timestamps up to one constant offset per track. Returns `undefined` when equal, else
 * a description of the first difference per track with counts. See {@link assertFlvTagsEqual}.
 */
export const compareFlvTags = (
  expected: FlvFile,
  actual: FlvFile,
  options: FlvTagComparisonOptions = {}
): string | undefined => {
  const kinds = options.kinds ?? ["config", "media"]
  const timestamps = options.timestamps ?? true
  const dedupe = options.dedupeConfig ?? true
  const problems: Array<string> = []
  for (const track of ["video", "audio"] as const) {
    const a = selectTrack(expected, track, kinds, dedupe)
    const b = selectTrack(actual, track, kinds, dedupe)
    const firstA = a.find((t) => t.kind === "media")
    const firstB = b.find((t) => t.kind === "media")
    const offset = firstA !== undefined && firstB !== undefined ? firstB.timestamp - firstA.timestamp : 0
    const n = Math.min(a.length, b.length)
    let diff: string | undefined
    for (let i = 0; i < n && diff === undefined; i++) {
      const x = a[i]!
      const y = b[i]!
      if (x.md5 !== y.md5) {
        diff = `tag #${i}: body differs (expected ${x.kind} ${x.body.length} B md5 ${x.md5} @${x.timestamp}, ` +
          `got ${y.kind} ${y.body.length} B md5 ${y.md5} @${y.timestamp})`
      } else if (timestamps && x.kind === "media" && y.timestamp - x.timestamp !== offset) {
        diff = `tag #${i} (${x.kind}): timestamp ${y.timestamp}, expected ${x.timestamp}${offset >= 0 ? "+" : ""}${offset}`
      }
    }
    if (diff === undefined && a.length !== b.length) {
      diff = `expected ${a.length} tags, got ${b.length} (first ${n} equal)`
    }
    if (diff !== undefined) problems.push(`${track}: ${diff} [expected ${a.length} tags, got ${b.length}]`)
  }
  return problems.length === 0 ? undefined : problems.join("\n")
}

/** Throw unless {@link compareFlvTags} finds the files equal. */
export const assertFlvTagsEqual = async (
  expectedFile: string,
  actualFile: string,
  options: FlvTagComparisonOptions = {}
): Promise<void> => {
  const difference = compareFlvTags(await readFlv(expectedFile), await readFlv(actualFile), options)
  if (difference !== undefined) {
    throw new Error(`FLV tags of ${actualFile} differ from ${expectedFile}:\n${difference}`)
  }
}
