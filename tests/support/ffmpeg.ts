/**
 * ffmpeg for tests: make H.264/AAC FLV fixtures, publish with ffmpeg as a reference client, and compare
 * what a server recorded with what was sent, packet by packet (`ffmpeg -f framemd5`).
 */
import { runChecked, type ProcessResult } from "./process.ts"

const quiet = ["-hide_banner", "-nostdin", "-loglevel", "error"]

/** Options of {@link makeFixture}. */
export interface FixtureOptions {
  /** Where to write the FLV. */
  readonly path: string
  /** Duration in seconds. Default 3. */
  readonly seconds?: number | undefined
  /** Shift every timestamp by this many seconds (`-output_ts_offset`), e.g. to test large or wrapping timestamps. */
  readonly outputTsOffset?: number | undefined
  /** Default `"640x360"`. */
  readonly size?: string | undefined
  /** Frames per second. Default 30. */
  readonly fps?: number | undefined
  /** Include the H.264 track. Default true. */
  readonly video?: boolean | undefined
  /** Include the AAC track. Default true. */
  readonly audio?: boolean | undefined
  /** B-frames (`-bf`). Default 2, so PTS != DTS (non-zero composition time offsets). */
  readonly bframes?: number | undefined
  /** Keyframe interval in frames (`-g`). Default 60. */
  readonly gop?: number | undefined
  /** Video bitrate such as `"2M"`; default: libx264's CRF default. */
  readonly videoBitrate?: string | undefined
}

/**
 * Make an FLV fixture with ffmpeg: `testsrc2` H.264 (libx264 ultrafast, B-frames) and a `sine` AAC track.
 * Deterministic enough for one run; compare recordings against the fixture file, not against constants.
 * Returns the path.
 */
export const makeFixture = async (options: FixtureOptions): Promise<string> => {
  const seconds = options.seconds ?? 3
  const fps = options.fps ?? 30
  const video = options.video ?? true
  const audio = options.audio ?? true
  if (!video && !audio) throw new Error("makeFixture: at least one of video and audio")
  const args: Array<string> = [...quiet, "-y"]
  if (video) args.push("-f", "lavfi", "-i", `testsrc2=size=${options.size ?? "640x360"}:rate=${fps}`)
  if (audio) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
  args.push("-t", String(seconds))
  if (video) {
    args.push(
      "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
      "-bf", String(options.bframes ?? 2), "-g", String(options.gop ?? 60)
    )
    if (options.videoBitrate !== undefined) args.push("-b:v", options.videoBitrate)
  }
  if (audio) args.push("-c:a", "aac", "-b:a", "128k")
  if (options.outputTsOffset !== undefined) args.push("-output_ts_offset", String(options.outputTsOffset))
  args.push("-f", "flv", options.path)
  await runChecked("ffmpeg", args, { timeoutMs: 60_000 })
  return options.path
}

/** Options of {@link ffmpegPublish}. */
export interface FfmpegPublishOptions {
  /** Pace by timestamps (`-re`). Default false: as fast as the server takes it. */
  readonly realtime?: boolean | undefined
  /**
   * Send the file's own timestamps (`-copyts`). Default true. `false` lets ffmpeg rebase them to start
   * near 0, as ffmpeg does by default.
   */
  readonly copyts?: boolean | undefined
  /** Extra arguments placed before the output URL, e.g. `["-tls_verify", "1", "-ca_file", ca]`. */
  readonly outputArgs?: ReadonlyArray<string> | undefined
  readonly timeoutMs?: number | undefined
}

/**
 * Publish a file with ffmpeg (`-c copy -f flv URL`): the reference publisher, to validate a server setup or
 * to produce a recording to compare with. Rejects unless ffmpeg exits 0.
 */
export const ffmpegPublish = (
  input: string,
  url: string,
  options: FfmpegPublishOptions = {}
): Promise<ProcessResult> =>
  runChecked(
    "ffmpeg",
    [
      ...quiet,
      ...(options.realtime ? ["-re"] : []),
      ...(options.copyts ?? true ? ["-copyts"] : []),
      "-i", input, "-map", "0", "-c", "copy",
      ...(options.outputArgs ?? []),
      "-f", "flv", url
    ],
    { timeoutMs: options.timeoutMs ?? 60_000 }
  )

/** One packet as `ffmpeg -f framemd5` sees it (timestamps in the stream's time base, ms for FLV). */
export interface Packet {
  readonly dts: number
  readonly pts: number
  readonly duration: number
  readonly size: number
  readonly md5: string
}

/** One stream of {@link framemd5Packets}. */
export interface PacketStream {
  readonly index: number
  /** `"video"`, `"audio"`, `"data"`, ... */
  readonly mediaType: string
  /** `"h264"`, `"aac"`, ... */
  readonly codecId: string
  /** e.g. `"1/1000"`. */
  readonly timeBase: string
  /** md5 of the codec extradata (the AVC decoder configuration / AudioSpecificConfig), when there is one. */
  readonly extradataMd5: string | undefined
  readonly packets: ReadonlyArray<Packet>
}

/**
 * The packets of every stream of a media file, from `ffmpeg -copyts -i FILE -map 0 -c copy -f framemd5 -`.
 * `-copyts` keeps the file's own timestamps (without it ffmpeg shifts everything by the file's start time,
 * which depends on which streams exist, e.g. a data stream for a server's extra script tags).
 * Packet side data (`S=...`, e.g. a new-extradata marker a server's re-sent sequence header produces) is ignored.
 */
export const framemd5Packets = async (file: string): Promise<ReadonlyArray<PacketStream>> => {
  const { stdout } = await runChecked("ffmpeg", [...quiet, "-copyts", "-i", file, "-map", "0", "-c", "copy", "-f", "framemd5", "-"], {
    timeoutMs: 60_000
  })
  type Mutable = { index: number; mediaType: string; codecId: string; timeBase: string; extradataMd5: string | undefined; packets: Array<Packet> }
  const streams = new Map<number, Mutable>()
  const stream = (index: number): Mutable => {
    let s = streams.get(index)
    if (s === undefined) {
      s = { index, mediaType: "unknown", codecId: "unknown", timeBase: "", extradataMd5: undefined, packets: [] }
      streams.set(index, s)
    }
    return s
  }
  for (const line of stdout.split("\n")) {
    if (line.length === 0) continue
    if (line.startsWith("#")) {
      // "#tb 0: 1/1000", "#media_type 0: video", "#codec_id 0: h264", "#extradata 0,   39, <md5>"
      const header = /^#(\w+) (\d+)[:,]\s*(.*)$/.exec(line)
      if (header === null) continue
      const [, key, index, value] = header
      const s = stream(Number(index))
      if (key === "tb") s.timeBase = value!.trim()
      else if (key === "media_type") s.mediaType = value!.trim()
      else if (key === "codec_id") s.codecId = value!.trim()
      else if (key === "extradata") s.extradataMd5 = value!.split(",").at(-1)!.trim()
      continue
    }
    // "0,        -46,         21,       33,    16523, ddb8...[, S=1, 5, <md5>]"
    const fields = line.split(",").map((f) => f.trim())
    if (fields.length < 6) throw new Error(`unexpected framemd5 line: ${line}`)
    stream(Number(fields[0])).packets.push({
      dts: Number(fields[1]),
      pts: Number(fields[2]),
      duration: Number(fields[3]),
      size: Number(fields[4]),
      md5: fields[5]!
    })
  }
  return [...streams.values()].sort((a, b) => a.index - b.index)
}

/** Options of {@link comparePackets}. */
export interface ComparePacketsOptions {
  /**
   * `"offset"` (default): dts and pts must match up to one constant offset per stream (from the first packet).
   * `"none"`: compare content only (size and md5 sequence), for servers that rewrite timestamps.
   */
  readonly timestamps?: "offset" | "none" | undefined
  /** With `"offset"`: require the same offset on every stream (a server that shifts all tracks by one epoch). */
  readonly commonOffset?: boolean | undefined
  /** Which streams to compare, by media type. Default `["video", "audio"]` (servers add or drop data streams). */
  readonly mediaTypes?: ReadonlyArray<string> | undefined
  /** Compare codec extradata md5 too. Default true. */
  readonly extradata?: boolean | undefined
}

/** The result of {@link comparePacketStreams}: `ok`, or a report of the first difference per stream. */
export interface PacketComparison {
  readonly ok: boolean
  /** Human-readable: first difference per stream with packet counts; empty when ok. */
  readonly report: string
  /** Timestamp offset (actual - expected) per media type, from the first packet. */
  readonly offsets: Readonly<Record<string, number>>
}

const describePacket = (p: Packet | undefined) =>
  p === undefined ? "nothing" : `dts ${p.dts} pts ${p.pts} size ${p.size} md5 ${p.md5}`

/**
 * Compare two files' packet lists per media type (streams matched by media type, not index: a recording may
 * order its streams differently). Pure; see {@link comparePackets} for the asserting form.
 */
export const comparePacketStreams = (
  expected: ReadonlyArray<PacketStream>,
  actual: ReadonlyArray<PacketStream>,
  options: ComparePacketsOptions = {}
): PacketComparison => {
  const mode = options.timestamps ?? "offset"
  const problems: Array<string> = []
  const offsets: Record<string, number> = {}
  const wanted = options.mediaTypes ?? ["video", "audio"]
  const selected = (list: ReadonlyArray<PacketStream>) => list.filter((s) => wanted.includes(s.mediaType))
  const types = (list: ReadonlyArray<PacketStream>) => selected(list).map((s) => s.mediaType).sort().join(",")
  if (types(expected) !== types(actual)) {
    problems.push(`streams differ: expected [${types(expected)}], got [${types(actual)}]`)
  }
  for (const exp of selected(expected)) {
    const act = actual.find((s) => s.mediaType === exp.mediaType)
    if (act === undefined) continue
    const label = `${exp.mediaType} (${exp.codecId})`
    if (exp.codecId !== act.codecId) problems.push(`${label}: codec ${act.codecId}`)
    if ((options.extradata ?? true) && exp.extradataMd5 !== act.extradataMd5) {
      problems.push(`${label}: extradata md5 ${act.extradataMd5}, expected ${exp.extradataMd5}`)
    }
    const a = exp.packets
    const b = act.packets
    const offset = a.length > 0 && b.length > 0 ? b[0]!.dts - a[0]!.dts : 0
    offsets[exp.mediaType] = offset
    const n = Math.min(a.length, b.length)
    let diff: string | undefined
    for (let i = 0; i < n; i++) {
      const x = a[i]!
      const y = b[i]!
      const contentDiffers = x.md5 !== y.md5 || x.size !== y.size
      const timeDiffers = mode === "offset" && (y.dts - x.dts !== offset || y.pts - x.pts !== offset)
      if (contentDiffers || timeDiffers) {
        diff = `packet #${i} differs${timeDiffers && !contentDiffers ? ` (timestamps, offset ${offset})` : ""}: ` +
          `expected ${describePacket(x)}, got ${describePacket(y)}; next expected ${describePacket(a[i + 1])}, ` +
          `next got ${describePacket(b[i + 1])}`
        break
      }
    }
    if (diff === undefined && a.length !== b.length) {
      diff = `first ${n} packets equal, then ` +
        (a.length > b.length ? `missing ${a.length - n}, first missing: ${describePacket(a[n])}` : `${b.length - n} extra, first extra: ${describePacket(b[n])}`)
    }
    if (diff !== undefined) problems.push(`${label}: ${diff} [expected ${a.length} packets, got ${b.length}]`)
  }
  if (mode === "offset" && options.commonOffset) {
    const distinct = new Set(Object.values(offsets))
    if (distinct.size > 1) problems.push(`timestamp offsets differ between streams: ${JSON.stringify(offsets)}`)
  }
  return { ok: problems.length === 0, report: problems.join("\n"), offsets }
}

/**
 * Assert that `actual` (e.g. a server's recording) holds the same packets as `expected` (the fixture sent):
 * same streams, same size and md5 sequence, and (unless `timestamps: "none"`) the same dts/pts up to a
 * constant offset per stream. Throws with the first difference per stream and packet counts.
 * Returns the comparison (its `offsets` tell how the server shifted timestamps).
 */
export const comparePackets = async (
  expected: string,
  actual: string,
  options: ComparePacketsOptions = {}
): Promise<PacketComparison> => {
  const result = comparePacketStreams(await framemd5Packets(expected), await framemd5Packets(actual), options)
  if (!result.ok) throw new Error(`packets of ${actual} differ from ${expected}:\n${result.report}`)
  return result
}

/** {@link comparePackets} with `timestamps: "none"`: content only, for servers that rewrite timestamps. */
export const compareContent = (
  expected: string,
  actual: string,
  options: Omit<ComparePacketsOptions, "timestamps"> = {}
): Promise<PacketComparison> => comparePackets(expected, actual, { ...options, timestamps: "none" })
