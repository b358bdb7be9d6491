/**
 * Media inputs: the bytes of a file or of stdin as a Stream, and the frames of an input, FLV or MP4,
 * recognized by its content. Read failures are typed: `InvalidMedia` naming the input.
 *
 * @since 0.1.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import type * as Arr from "effect/Array"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import * as fsp from "node:fs/promises"
import * as FlvDemuxer from "./FlvDemuxer.ts"
import * as FileChunks from "./internal/fileChunks.ts"
import { leadingBoxTypes } from "./internal/mp4Box.ts"
import { readError } from "./internal/readError.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import * as Mp4Demuxer from "./Mp4Demuxer.ts"
import { InvalidMedia } from "./RtmpError.ts"

/** The name stdin gets in errors and events. */
const stdinName = "stdin"

/**
 * The bytes of a file, read in 256 KiB chunks as they are pulled (never the whole file at once). The file is
 * opened when the stream runs and closed when it ends or is interrupted. A missing or unreadable file fails
 * with `InvalidMedia` whose `source` is `path`.
 *
 * @since 0.1.0
 */
export const fromFile = (path: string): Stream.Stream<Uint8Array, InvalidMedia> =>
  FileChunks.stream(path, readError(path))

/**
 * The bytes of the process's standard input, as they arrive: for `ffmpeg ... -f flv - | effect-rtmp
 * publish - rtmp://...`. stdin is left open when the stream ends. A read failure is `InvalidMedia` with
 * `source: "stdin"`.
 *
 * @since 0.1.0
 */
export const fromStdin: Stream.Stream<Uint8Array, InvalidMedia> = NodeStream.fromReadable<Uint8Array, InvalidMedia>({
  evaluate: () => process.stdin,
  onError: readError(stdinName),
  closeOnDone: false
})

/**
 * The container of an input, from its first bytes (at most 8): `undefined` while more are needed.
 * `"FLV"` starts an FLV file; a box type that can begin an ISO BMFF file (`ftyp`, `styp`, `moov`, `moof`,
 * `mdat`, `free`, ...) at bytes 4-7 an MP4.
 */
const detect = (head: Uint8Array, complete: boolean): "flv" | "mp4" | "empty" | "unknown" | undefined => {
  if (head.length === 0) return complete ? "empty" : undefined
  if (head[0] === 0x46 && (head.length < 2 || head[1] === 0x4c) && (head.length < 3 || head[2] === 0x56)) {
    // "FLV", or a prefix of it at the end of the input (the FLV demuxer reports the truncation)
    return head.length >= 3 || complete ? "flv" : undefined
  }
  if (head.length < 8) return complete ? "unknown" : undefined
  return leadingBoxTypes.has(String.fromCharCode(head[4]!, head[5]!, head[6]!, head[7]!)) ? "mp4" : "unknown"
}

const notMedia = (source: string, format: "empty" | "unknown"): InvalidMedia =>
  new InvalidMedia({
    source,
    reason: format === "empty" ? "empty input (0 bytes), expected an FLV or MP4 file" : "not an FLV or MP4 file",
    offset: 0
  })

/**
 * Demuxes a byte stream as FLV or MP4, whichever its first bytes say (an MP4 from a stream must be
 * fragmented, or have its `moov` first: see `Mp4Demuxer.demux`). Anything else fails with `InvalidMedia`
 * "not an FLV or MP4 file". `source` names the input in errors.
 *
 * @since 0.1.0
 */
export const demux = (source: string, options?: Mp4Demuxer.Options) =>
<E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<MediaFrame, E | InvalidMedia, R> =>
  Stream.transformPull(bytes, (upstream, scope) =>
    Effect.gen(function*() {
      // Read until the first bytes tell the format; they are then replayed to the demuxer
      const head: Array<Uint8Array> = []
      let ended = false
      let format: ReturnType<typeof detect>
      for (;;) {
        format = detect(firstBytes(head), ended)
        if (format !== undefined) break
        const chunks = yield* upstream.pipe(
          Pull.catchDone(() =>
            Effect.sync((): ReadonlyArray<Uint8Array> => {
              ended = true
              return []
            })
          )
        )
        for (const chunk of chunks) if (chunk.length > 0) head.push(chunk)
      }
      const replay = Stream.fromArray(head)
      const input: Stream.Stream<Uint8Array, E> = ended
        ? replay
        : Stream.concat(replay, Stream.fromPull(Effect.succeed(upstream)))
      const frames: Stream.Stream<MediaFrame, E | InvalidMedia> = format === "flv"
        ? input.pipe(FlvDemuxer.demux(source))
        : format === "mp4"
        ? input.pipe(Mp4Demuxer.demux(source, options))
        : Stream.fail(notMedia(source, format))
      return yield* Channel.toPullScoped(frames.channel, scope)
    }) as Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<MediaFrame>, E | InvalidMedia, void>, E>)

/** Up to the first 8 bytes of the chunks read so far. */
const firstBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 0) return new Uint8Array(0)
  if (chunks.length === 1 || chunks[0]!.length >= 8) return chunks[0]!.subarray(0, 8)
  const out = new Uint8Array(8)
  let n = 0
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length && n < 8; i++) out[n++] = chunk[i]!
  }
  return out.subarray(0, n)
}

/** The first (up to) 8 bytes of a file. */
const fileHead = (path: string): Effect.Effect<Uint8Array, InvalidMedia> =>
  Effect.tryPromise({
    try: async () => {
      const file = await fsp.open(path, "r")
      try {
        const head = new Uint8Array(8)
        const { bytesRead } = await file.read(head, 0, 8, 0)
        return head.subarray(0, bytesRead)
      } finally {
        await file.close().catch(() => undefined)
      }
    },
    catch: readError(path)
  })

/**
 * The media frames of an input: `"-"` is stdin, anything else a file path. The format is recognized by
 * its first bytes. An FLV is demuxed by `FlvDemuxer.demux`, streaming, in file order, with the file's own
 * timestamps. An MP4 file by `Mp4Demuxer.demuxFile` (progressive, `moov` anywhere, or fragmented), an MP4
 * on stdin by `Mp4Demuxer.demux` (fragmented, or `moov` first); `options` pick its tracks (default: the
 * first video and the first audio track). Anything else fails with `InvalidMedia` ("not an FLV or MP4
 * file"). This is what the CLI publishes; apps with frames of their own can hand a `Stream<MediaFrame>`
 * to the publisher instead.
 *
 * @since 0.1.0
 */
export const frames = (input: string, options?: Mp4Demuxer.Options): Stream.Stream<MediaFrame, InvalidMedia> =>
  input === "-"
    ? fromStdin.pipe(demux(stdinName, options))
    : Stream.unwrap(Effect.map(fileHead(input), (head) => {
      const format = detect(head, true)!
      return format === "flv"
        ? fromFile(input).pipe(FlvDemuxer.demux(input))
        : format === "mp4"
        ? Mp4Demuxer.demuxFile(input, options)
        : Stream.fail(notMedia(input, format))
    }))
