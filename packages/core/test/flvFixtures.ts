/**
 * FLV fixtures for the FLV demuxer/muxer tests: files made by ffmpeg at test time, what ffprobe says about
 * them, a raw tag walker (an oracle independent of the code under test) and a builder of hand-made FLVs.
 * ffmpeg and ffprobe are required: without them the tests fail, loudly.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const run = (tool: "ffmpeg" | "ffprobe", args: ReadonlyArray<string>): string => {
  try {
    return execFileSync(tool, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "pipe"] })
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string }
    if (e.code === "ENOENT") {
      throw new Error(`${tool} is required by the FLV tests and is not on PATH (install ffmpeg: apt-get install ffmpeg)`)
    }
    throw new Error(`${tool} ${args.join(" ")} failed: ${e.stderr ?? e.message}`)
  }
}

let dir: string | undefined
const tempDir = (): string => dir ??= fs.mkdtempSync(path.join(os.tmpdir(), "effect-rtmp-flv-"))

/**
 * An H.264 (x264, 2 B-frames, so composition times are non-zero) + AAC FLV made by ffmpeg, 320x240 testsrc2.
 * `outputTsOffset` (seconds) shifts the timestamps, e.g. 16777 to cross 0xFFFFFF ms.
 */
export const makeFlv = (name: string, options: { readonly seconds: number; readonly outputTsOffset?: number }) => {
  const file = path.join(tempDir(), `${name}.flv`)
  // dts from the file: the same value ffprobe reports, so that tests can compare
  run("ffmpeg", [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-t", String(options.seconds),
    "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30",
    "-c:a", "aac",
    ...(options.outputTsOffset === undefined ? [] : ["-output_ts_offset", String(options.outputTsOffset)]),
    "-f", "flv", file
  ])
  return file
}

/** A packet as ffprobe reports it (timestamps in ms: FLV's time base is 1/1000). */
export interface ProbePacket {
  readonly codec_type: "video" | "audio"
  readonly pts: number
  readonly dts: number
  readonly flags: string
}

/** ffprobe's packets of a file, in file order. */
export const probePackets = (file: string): ReadonlyArray<ProbePacket> =>
  (JSON.parse(run("ffprobe", ["-v", "error", "-show_entries", "packet=codec_type,pts,dts,flags", "-of", "json", file]))
    .packets as ReadonlyArray<ProbePacket>)

/** One FLV tag as stored. */
export interface RawTag {
  readonly type: number
  readonly timestamp: number
  /** Offset of the tag header in the file. */
  readonly offset: number
  readonly body: Uint8Array
}

/** Walks the tags of a whole FLV file in memory, without the code under test. */
export const rawTags = (bytes: Uint8Array): ReadonlyArray<RawTag> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const tags: Array<RawTag> = []
  let at = view.getUint32(5) + 4
  while (at + 11 <= bytes.length) {
    const type = bytes[at]! & 0x1f
    const size = view.getUint32(at) & 0xffffff
    const timestamp = ((view.getUint32(at + 4) >>> 8) | (bytes[at + 7]! << 24)) >>> 0
    tags.push({ type, timestamp, offset: at, body: bytes.subarray(at + 11, at + 11 + size) })
    at += 11 + size + 4
  }
  return tags
}

/** A hand-made tag for {@link buildFlv}. */
export interface TagSpec {
  readonly type: number
  readonly timestamp: number
  readonly body: ArrayLike<number>
}

/** Builds an FLV file from tags; `dataOffset` > 9 puts padding between the header and the first tag. */
export const buildFlv = (tags: ReadonlyArray<TagSpec>, options?: { readonly dataOffset?: number }): Uint8Array => {
  const dataOffset = options?.dataOffset ?? 9
  const parts: Array<number> = [0x46, 0x4c, 0x56, 1, 5, ...u32(dataOffset)]
  for (let i = 9; i < dataOffset; i++) parts.push(0xee)
  parts.push(0, 0, 0, 0)
  for (const tag of tags) {
    const size = tag.body.length
    parts.push(
      tag.type,
      ...u24(size),
      ...u24(tag.timestamp & 0xffffff),
      (tag.timestamp >>> 24) & 0xff,
      0, 0, 0,
      ...Array.from(tag.body),
      ...u32(11 + size)
    )
  }
  return Uint8Array.from(parts)
}

const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]

/** Splits bytes into chunks of pseudo-random sizes in [1, max] (seeded, reproducible). */
export const randomChunks = (bytes: Uint8Array, seed: number, max: number): Array<Uint8Array> => {
  let state = seed >>> 0
  const next = () => {
    // xorshift32
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 0x1_0000_0000
  }
  const chunks: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length;) {
    const n = 1 + Math.floor(next() * max)
    chunks.push(bytes.subarray(at, at + n))
    at += n
  }
  return chunks
}
