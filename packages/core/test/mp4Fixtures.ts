/**
 * MP4 fixtures for the MP4 demuxer tests: files made by ffmpeg at test time, and what ffprobe and
 * `ffmpeg -c copy -f framemd5` say about them (an oracle independent of the code under test), plus a
 * small box walker/rewriter for hand-made variants. ffmpeg, ffprobe and the encoders used are required:
 * without them the tests fail, loudly.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** Runs ffmpeg or ffprobe (in parallel with others: the fixtures are made and probed concurrently). */
const run = (tool: "ffmpeg" | "ffprobe", args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(tool, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout)
      const e = error as NodeJS.ErrnoException
      reject(
        e.code === "ENOENT"
          ? new Error(`${tool} is required by the MP4 tests and is not on PATH (install ffmpeg: apt-get install ffmpeg)`)
          : new Error(`${tool} ${args.join(" ")} failed: ${stderr || e.message}`)
      )
    })
  })

let dir: string | undefined
/** A temporary folder for this test file's fixtures. */
export const tempDir = (): string => dir ??= fs.mkdtempSync(path.join(os.tmpdir(), "effect-rtmp-mp4-"))

/** Fails loudly, before any fixture is made, when ffmpeg lacks an encoder the tests need. */
export const requireEncoders = async (names: ReadonlyArray<string>): Promise<void> => {
  const list = await run("ffmpeg", ["-hide_banner", "-encoders"])
  const missing = names.filter((n) => !new RegExp(`^ \\S{6} ${n} `, "m").test(list))
  if (missing.length > 0) {
    throw new Error(
      `ffmpeg has no ${missing.join(", ")} encoder(s), which the MP4 tests need (Debian's ffmpeg has them: ` +
        "apt-get install ffmpeg, or node scripts/ensure-system-deps.mjs)"
    )
  }
}

const video = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30"]
const audio = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
const quiet = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]

/** Runs ffmpeg to make `name` in the temporary folder; returns its path. */
export const ffmpeg = async (name: string, args: ReadonlyArray<string>): Promise<string> => {
  const file = path.join(tempDir(), name)
  await run("ffmpeg", [...quiet, ...args, file])
  return file
}

/** The encoders the fixtures below use. */
export const encoders = ["libx264", "aac", "libx265", "libopus", "libsvtav1", "libvpx-vp9", "libmp3lame", "ac3", "eac3", "flac", "mpeg4"]

/**
 * The fixtures (made concurrently): 2 s of 160x120 video at 30 fps with a keyframe every second, 48 kHz
 * audio.
 */
export const makeFixtures = async () => {
  await requireEncoders(encoders)
  const x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30"]
  // H.264 with B-frames + two AAC tracks (different bitrates); progressive, moov at the end (ffmpeg's default)
  const avc = ffmpeg("avc.mp4", [
    ...video, ...audio, "-t", "2", "-map", "0:v", "-map", "1:a", "-map", "1:a",
    ...x264, "-c:a", "aac", "-b:a:0", "96k", "-b:a:1", "32k"
  ])
  // The same, moov first
  const avcFaststart = avc.then((file) =>
    ffmpeg("avc-faststart.mp4", ["-i", file, "-map", "0", "-c", "copy", "-movflags", "+faststart"])
  )
  // Fragmented as a live encoder writes it to a pipe
  const avcFragmented = ffmpeg("avc-frag.mp4", [
    ...video, ...audio, "-t", "2", "-map", "0:v", "-map", "1:a", ...x264, "-c:a", "aac",
    "-movflags", "frag_keyframe+empty_moov", "-f", "mp4"
  ])
  // Fragmented without empty_moov: the first fragment's samples are in the moov's tables
  const avcFragmentedMoov = avcFragmented.then((file) =>
    ffmpeg("avc-frag-moov.mp4", ["-i", file, "-map", "0", "-c", "copy", "-movflags", "frag_keyframe"])
  )
  // HEVC with B-frames + Opus
  const hevc = ffmpeg("hevc.mp4", [
    ...video, ...audio, "-t", "2", "-c:v", "libx265", "-preset", "ultrafast",
    "-x265-params", "log-level=error:bframes=2:keyint=30", "-c:a", "libopus"
  ])
  const av1 = ffmpeg("av1.mp4", [...video, "-t", "2", "-c:v", "libsvtav1", "-preset", "12", "-g", "30", "-svtav1-params", "lp=1"])
  // VP9 + Opus, fragmented
  const vp9 = ffmpeg("vp9-frag.mp4", [
    ...video, ...audio, "-t", "2", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "30",
    "-c:a", "libopus", "-movflags", "frag_keyframe+empty_moov"
  ])
  // Audio only, four tracks of four codecs; the audio starts 0.5 s late (an empty edit) in the mp3 track
  const audioCodecs = ffmpeg("audio.mp4", [
    ...audio, "-itsoffset", "0.5", ...audio, "-t", "1", "-map", "0:a", "-map", "0:a", "-map", "1:a", "-map", "0:a",
    "-c:a:0", "ac3", "-c:a:1", "eac3", "-c:a:2", "libmp3lame", "-c:a:3", "flac", "-strict", "experimental"
  ])
  const mpeg4 = ffmpeg("mpeg4.mp4", [...video, "-t", "0.5", "-c:v", "mpeg4"])
  return {
    avc: await avc,
    avcFaststart: await avcFaststart,
    avcFragmented: await avcFragmented,
    avcFragmentedMoov: await avcFragmentedMoov,
    hevc: await hevc,
    av1: await av1,
    vp9: await vp9,
    audioCodecs: await audioCodecs,
    mpeg4: await mpeg4
  }
}

/** A stream as ffprobe reports it. */
export interface ProbeStream {
  readonly index: number
  readonly id: string
  readonly codec_type: "video" | "audio"
  readonly codec_name: string
  readonly time_base: string
}

/** A packet as ffprobe reports it, timestamps in the stream's time base. */
export interface ProbePacket {
  readonly stream_index: number
  readonly pts: number
  readonly dts: number
  readonly size: string
  readonly flags: string
}

/** What ffprobe says of a file: its streams, and its packets in demuxing order. */
export interface Probe {
  readonly streams: ReadonlyArray<ProbeStream>
  readonly packets: ReadonlyArray<ProbePacket>
}

/** ffprobe's streams and packets of a file. */
export const probe = async (file: string): Promise<Probe> =>
  JSON.parse(
    await run("ffprobe", [
      "-v", "error",
      "-show_entries", "stream=index,id,codec_type,codec_name,time_base:packet=stream_index,pts,dts,size,flags",
      "-of", "json", file
    ])
  )

/** What `ffmpeg -c copy -f framemd5` says: per stream, the MD5 of each packet, and of the extradata. */
export interface FrameMd5 {
  readonly packets: ReadonlyMap<number, ReadonlyArray<{ readonly size: number; readonly md5: string }>>
  readonly extradata: ReadonlyMap<number, { readonly size: number; readonly md5: string }>
}

export const frameMd5 = async (file: string): Promise<FrameMd5> => {
  const text = await run("ffmpeg", ["-hide_banner", "-nostdin", "-loglevel", "error", "-i", file, "-map", "0", "-c", "copy", "-f", "framemd5", "-"])
  const packets = new Map<number, Array<{ size: number; md5: string }>>()
  const extradata = new Map<number, { size: number; md5: string }>()
  for (const line of text.split("\n")) {
    const extra = /^#extradata (\d+),\s*(\d+),\s*([0-9a-f]{32})$/.exec(line)
    if (extra !== null) extradata.set(Number(extra[1]), { size: Number(extra[2]), md5: extra[3]! })
    if (line.startsWith("#") || line.trim() === "") continue
    const fields = line.split(",").map((f) => f.trim())
    const stream = Number(fields[0])
    if (!packets.has(stream)) packets.set(stream, [])
    packets.get(stream)!.push({ size: Number(fields[4]), md5: fields[5]! })
  }
  return { packets, extradata }
}

// ---------------------------------------------------------------------------------------------------------
// Boxes, for the tests' own view of a file and for hand-made variants
// ---------------------------------------------------------------------------------------------------------

/** A box: a container with children, or a leaf with its body. */
export interface Box {
  readonly type: string
  readonly body?: Uint8Array
  readonly children?: ReadonlyArray<Box>
}

const containers = new Set(["moov", "trak", "mdia", "minf", "stbl", "edts", "mvex", "moof", "traf", "dinf"])

/** Parses boxes (containers recursively, everything else as leaves). */
export const parseBoxes = (bytes: Uint8Array, start = 0, end = bytes.length): Array<Box> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Array<Box> = []
  let at = start
  while (at + 8 <= end) {
    let size = view.getUint32(at)
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8))
    let header = 8
    if (size === 1) {
      size = Number(view.getBigUint64(at + 8))
      header = 16
    } else if (size === 0) {
      size = end - at
    }
    out.push(
      containers.has(type)
        ? { type, children: parseBoxes(bytes, at + header, at + size) }
        : { type, body: bytes.subarray(at + header, at + size) }
    )
    at += size
  }
  return out
}

/** Serializes boxes (32-bit sizes). */
export const writeBoxes = (boxes: ReadonlyArray<Box>): Uint8Array => {
  const parts: Array<Uint8Array> = []
  for (const box of boxes) {
    const body = box.children !== undefined ? writeBoxes(box.children) : box.body!
    const header = new Uint8Array(8)
    new DataView(header.buffer).setUint32(0, 8 + body.length)
    header.set(Array.from(box.type, (c) => c.charCodeAt(0)), 4)
    parts.push(header, body)
  }
  return Buffer.concat(parts)
}

/** Every box of a type, depth first. */
export const findBoxes = (boxes: ReadonlyArray<Box>, type: string): Array<Box> =>
  boxes.flatMap((b) => [...(b.type === type ? [b] : []), ...findBoxes(b.children ?? [], type)])

/** Rewrites every box the function maps (returning `undefined` keeps a box as is; containers are walked). */
export const mapBoxes = (boxes: ReadonlyArray<Box>, f: (box: Box) => Box | undefined): Array<Box> =>
  boxes.map((b) => {
    const mapped = f(b)
    if (mapped !== undefined) return mapped
    return b.children !== undefined ? { type: b.type, children: mapBoxes(b.children, f) } : b
  })
