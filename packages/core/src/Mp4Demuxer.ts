/**
 * MP4 demuxing (ISO BMFF: `.mp4`, `.m4v`, `.m4a`, `.mov` with these codecs): the samples of an MP4 as
 * `MediaFrame`s, progressive or fragmented, from a file or from a pipe.
 *
 * - `demuxFile(path)`: a file, with random access. A progressive MP4 (the `moov` before or after the
 *   `mdat`) is read `moov` first, then its samples in decode order, interleaved across tracks by decode
 *   time, each read from the file in bounded ranges (never the whole file). A fragmented MP4 (an `mvex`
 *   box; `moov` + `moof`/`mdat` pairs) is read front to back as `demux` does.
 * - `demux(source)`: a byte stream (stdin, a socket): a fragmented MP4 (`ffmpeg -movflags
 *   frag_keyframe+empty_moov -f mp4 -`), or a progressive one whose `moov` comes first (`+faststart`),
 *   whose samples then come out in file order. An `mdat` before the `moov` fails: that needs a file.
 *
 * What comes out:
 *
 * - first, each selected track's configuration record (`config: true`, `keyframe: true`, at the first
 *   frame's dts): `avcC`, `hvcC`, `av1C`, `vpcC`/`vvcC` (after their FullBox header), the AAC
 *   AudioSpecificConfig (from `esds`), an `OpusHead` made from `dOps`, `"fLaC"` + the `dfLa` metadata
 *   blocks; `mp3`, `ac3` and `eac3` have none. A track that switches sample description (several `stsd`
 *   entries) gets the new record before the first sample that uses it;
 * - then every sample as one frame: `payload` is the sample as stored (length-prefixed NAL units for
 *   `avc`/`hevc`/`vvc`, a temporal unit of OBUs for `av1`, a frame for `vp9`/`vp8`, a raw AAC frame, an
 *   Opus packet, ...); `keyframe` from `stss` (all samples when absent) or the fragment's sample flags;
 *   `track` numbers the selected tracks per kind: 0 for the first video and the first audio track, 1 for
 *   the second audio track, ...
 *
 * Timestamps are in ms on the presentation timeline: the first edit of each track's edit list is applied
 * (its `media_time` subtracted, leading empty edits added; later edits, which cut or repeat, are not),
 * as FFmpeg does; `cts` = round(pts) - round(dts). When that puts the first samples before 0 (B-frames,
 * audio priming), every track is shifted by the same least amount that makes the earliest dts 0, like
 * `ffmpeg -c copy -f flv`. A track's dts never decreases.
 *
 * Errors are `InvalidMedia` with the input's name, a reason and the byte offset: not an MP4, truncated
 * or malformed boxes, sample data outside the file or its `mdat`, an unknown track id, an unsupported
 * codec (MPEG-4 Part 2, encrypted tracks, PCM, ...) in a selected track.
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import type { FileHandle } from "node:fs/promises"
import * as fsp from "node:fs/promises"
import { leadingBoxTypes, Mp4Error, parseBoxHeader } from "./internal/mp4Box.ts"
import { decodeFrames } from "./internal/frameDecoder.ts"
import { Limits, Mp4Decoder } from "./internal/mp4Decoder.ts"
import { FrameWriter, trackOutputs } from "./internal/mp4Frames.ts"
import { parseMovie, selectTracks, type TrackSelection } from "./internal/mp4Movie.ts"
import { type PlannedSample, ProgressivePlan } from "./internal/mp4Progressive.ts"
import { readError } from "./internal/readError.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import { InvalidMedia } from "./RtmpError.ts"

/**
 * Which tracks to demux.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * Track ids (`tkhd` track_ID, as `ffprobe` shows them in `id`, or `mp4info`), or `"all"` for every
   * audio and video track. Frames keep the file's track order, whatever the order given. Default: the
   * first video track and the first audio track (what a legacy RTMP stream carries).
   */
  readonly tracks?: ReadonlyArray<number> | "all" | undefined
}

const selection = (options: Options | undefined): TrackSelection => options?.tracks ?? "default"

/**
 * Demuxes a stream of MP4 bytes into media frames: a fragmented MP4, or a progressive one with its
 * `moov` first (see the module documentation for the order and timestamps).
 *
 * Use it on a byte source without random access: `MediaSource.fromStdin`, a socket, a test array; for a
 * file use `demuxFile`, which also reads MP4s whose `moov` is at the end (`MediaSource.frames` picks).
 * `source` names the input in errors. The input is read as the output is pulled; progressive samples
 * come out as their bytes arrive, fragmented ones once their fragment is complete. Payloads are
 * subarrays of the input chunks when a sample lies within one chunk.
 *
 * @example
 * ```ts
 * import { MediaSource, Mp4Demuxer } from "@effect-rtmp/core"
 *
 * // ffmpeg -i in.mkv -c copy -movflags frag_keyframe+empty_moov -f mp4 - | node app.js
 * const frames = MediaSource.fromStdin.pipe(Mp4Demuxer.demux("stdin"))
 * ```
 *
 * @since 0.1.0
 */
export const demux = (source: string, options?: Options) =>
<E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<MediaFrame, E | InvalidMedia, R> =>
  decodeFrames(bytes, () => new Mp4Decoder(source, selection(options)))

/** Bytes read at once from a file: a track's read-ahead window, or a chunk of a fragmented file. */
const ReadSize = 512 * 1024
/** Frames per output batch when reading a progressive file. */
const BatchSize = 64

/**
 * Demuxes an MP4 file, with random access: progressive MP4s with the `moov` anywhere, in decode order
 * interleaved across tracks; fragmented MP4s front to back (as `demux`).
 *
 * Only the `moov` and, per track, a read-ahead window of sample data (512 KiB, or one sample when
 * larger) are held; payloads are subarrays of those windows. The file is opened when the stream runs
 * and closed when it ends, fails or is interrupted. A missing or unreadable file fails with
 * `InvalidMedia` whose `source` is `path`.
 *
 * @example
 * ```ts
 * import { Mp4Demuxer, Publisher } from "@effect-rtmp/core"
 *
 * const program = Publisher.publish("rtmp://127.0.0.1/live/key", Mp4Demuxer.demuxFile("show.mp4"))
 * ```
 *
 * @since 0.1.0
 */
export const demuxFile = (path: string, options?: Options): Stream.Stream<MediaFrame, InvalidMedia> =>
  Stream.unwrap(Effect.gen(function*() {
    const file = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => fsp.open(path, "r"), catch: readError(path) }),
      (handle) => Effect.promise(() => handle.close().catch(() => undefined))
    )
    const stat = yield* Effect.tryPromise({ try: () => file.stat(), catch: readError(path) })
    if (stat.isDirectory()) return yield* new InvalidMedia({ source: path, reason: "is a directory, not a file" })
    const fileSize = stat.size
    const read = (position: number, length: number) =>
      Effect.tryPromise({ try: () => readAt(file, position, length), catch: readError(path) })
    const fail = (reason: string, offset: number) => Effect.fail(new InvalidMedia({ source: path, reason, offset }))
    const parse = <A>(f: () => A) =>
      Effect.try({
        try: f,
        catch: (error) => {
          if (error instanceof Mp4Error) return new InvalidMedia({ source: path, reason: error.reason, offset: error.offset })
          throw error
        }
      })

    // Find the moov: hop over the top-level boxes by their headers
    if (fileSize === 0) return yield* fail("empty input (0 bytes), expected an MP4 file", 0)
    let at = 0
    let moov: { readonly at: number; readonly size: number; readonly headerSize: number } | undefined
    while (at < fileSize) {
      const head = yield* read(at, Math.min(16, fileSize - at))
      if (head.length < 8) return yield* fail(`truncated box header (${head.length} of 8 bytes)`, at)
      const header = yield* parse(() => parseBoxHeader(head, at))
      if (header === undefined) return yield* fail(`truncated box header (${head.length} of 16 bytes)`, at)
      if (at === 0 && !leadingBoxTypes.has(header.type)) {
        return yield* fail(`not an MP4 file (it starts with a "${header.type}" box)`, 0)
      }
      const size = header.size ?? fileSize - at
      if (header.type === "moov") {
        moov = { at, size, headerSize: header.headerSize }
        break
      }
      at += size
    }
    if (moov === undefined) return yield* fail("no \"moov\" box: not a complete MP4 file", at)
    if (moov.size > Limits.moov) return yield* fail(`"moov" box of ${moov.size} bytes, over the 256 MiB limit`, moov.at)
    if (moov.at + moov.size > fileSize) {
      return yield* fail(`truncated "moov" box (${fileSize - moov.at} of ${moov.size} bytes)`, moov.at)
    }
    const moovBody = yield* read(moov.at + moov.headerSize, moov.size - moov.headerSize)
    const movie = yield* parse(() => parseMovie(moovBody, moov.at + moov.headerSize))
    const selected = yield* parse(() => selectTracks(movie, selection(options), moov.at))

    if (movie.fragmented) {
      // moov + moof/mdat pairs: front to back, on the same file handle
      let position = 0
      const bytes = Stream.fromPull(Effect.succeed(
        Effect.suspend((): Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, InvalidMedia> => {
          if (position >= fileSize) return Cause.done()
          return Effect.flatMap(read(position, Math.min(ReadSize, fileSize - position)), (chunk) => {
            if (chunk.length === 0) return Cause.done()
            position += chunk.length
            return Effect.succeed([chunk] as const)
          })
        })
      ))
      return demux(path, options)(bytes)
    }

    const outputs = trackOutputs(selected)
    const writer = new FrameWriter(outputs)
    const plan = yield* parse(() => new ProgressivePlan(outputs, writer))
    const windows: Array<{ readonly start: number; readonly bytes: Uint8Array } | undefined> = outputs.map(() => undefined)
    let done = false

    /** The bytes of a sample: from its track's window, or a new window read from the file. */
    const sampleBytes = (sample: PlannedSample) =>
      Effect.gen(function*() {
        const { offset, size, output } = sample
        const window = windows[output]
        if (window !== undefined && offset >= window.start && offset + size <= window.start + window.bytes.length) {
          return window.bytes.subarray(offset - window.start, offset - window.start + size)
        }
        if (size > Limits.sample) return yield* fail(`${plan.describe(sample)}: over the 128 MiB limit`, offset)
        if (offset + size > fileSize) {
          return yield* fail(
            `truncated: ${plan.describe(sample)} lies beyond the end of the file (${fileSize} bytes)`,
            offset
          )
        }
        const bytes = yield* read(offset, Math.min(fileSize - offset, Math.max(size, ReadSize)))
        if (bytes.length < size) {
          return yield* fail(`truncated: the file ends inside ${plan.describe(sample)}`, offset)
        }
        windows[output] = { start: offset, bytes }
        return bytes.subarray(0, size)
      })

    const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<MediaFrame>, InvalidMedia> = Effect.gen(function*() {
      if (done) return yield* Cause.done()
      const out: Array<MediaFrame> = []
      while (out.length < BatchSize) {
        const sample = plan.peek()
        if (sample === undefined) {
          done = true
          if (!writer.isStarted) writer.start(out, 0)
          break
        }
        const payload = yield* sampleBytes(sample)
        yield* parse(() => plan.write(out, sample, payload))
      }
      if (out.length === 0) return yield* Cause.done()
      return out as unknown as Arr.NonEmptyReadonlyArray<MediaFrame>
    })
    return Stream.fromPull(Effect.succeed(pull))
  }))

/** Reads up to `length` bytes at `position` (fewer only at the end of the file) into a new buffer. */
const readAt = async (file: FileHandle, position: number, length: number): Promise<Uint8Array> => {
  const buffer = new Uint8Array(length)
  let filled = 0
  while (filled < length) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled < length ? buffer.subarray(0, filled) : buffer
}
