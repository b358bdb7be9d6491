/**
 * Media inputs: the bytes of a file or of stdin as a Stream, and the frames of an input (FLV for now).
 * Read failures are typed: `InvalidMedia` naming the input.
 *
 * @since 0.1.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as FlvDemuxer from "./FlvDemuxer.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import { InvalidMedia } from "./RtmpError.ts"

/** The name stdin gets in errors and events. */
const stdinName = "stdin"

const readError = (source: string) => (error: unknown): InvalidMedia => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined
  const reason = code === "ENOENT"
    ? "no such file"
    : code === "EISDIR"
    ? "is a directory, not a file"
    : code === "EACCES" || code === "EPERM"
    ? "permission denied"
    : `read failed: ${error instanceof Error ? error.message : String(error)}`
  return new InvalidMedia({ source, reason })
}

/**
 * The bytes of a file, read in 64 KiB chunks as they are pulled (never the whole file at once). The file is
 * opened when the stream runs and closed when it ends or is interrupted. A missing or unreadable file fails
 * with `InvalidMedia` whose `source` is `path`.
 *
 * @since 0.1.0
 */
export const fromFile = (path: string): Stream.Stream<Uint8Array, InvalidMedia> =>
  NodeStream.fromReadable<Uint8Array, InvalidMedia>({
    evaluate: () => fs.createReadStream(path),
    onError: readError(path)
  })

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
 * The media frames of an input: `"-"` is stdin, anything else a file path. The input is demuxed as FLV
 * (`FlvDemuxer.demux`), streaming, in file order, with the file's own timestamps. This is what the CLI
 * publishes; apps with frames of their own can hand a `Stream<MediaFrame>` to the publisher instead.
 *
 * @since 0.1.0
 */
export const frames = (input: string): Stream.Stream<MediaFrame, InvalidMedia> =>
  input === "-"
    ? fromStdin.pipe(FlvDemuxer.demux(stdinName))
    : fromFile(input).pipe(FlvDemuxer.demux(input))
