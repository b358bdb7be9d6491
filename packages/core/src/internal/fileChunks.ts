/**
 * The bytes of a file as a Stream of chunks, read with `fs.read` into a fresh buffer per chunk (the chunks
 * are handed out, never reused: frames keep subarrays of them). Uninitialized memory (`allocUnsafeSlow`):
 * every byte handed out was read.
 *
 * Why not `fs.createReadStream`: a publish reads a whole file as fast as the socket takes it, and the
 * Readable machinery, at its 64 KiB default, costs more CPU per byte than the reads themselves. Fewer,
 * larger reads also mean larger batches downstream (fewer Effect steps and socket writes per byte) and
 * fewer FLV tags that span two chunks (each such tag is copied once).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Cause from "effect/Cause"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"

/**
 * Bytes per read: large enough that per-read costs vanish, small enough that a chunk is not allocated
 * outside the allocator's reused memory (1 MiB and more measured slower: fresh pages for every read).
 *
 * @internal
 */
export const chunkSize = 256 * 1024

/** A file opened for reading front to back. */
interface OpenFile {
  /** The next chunk, `undefined` at the end of the file. */
  readonly read: Effect.Effect<Uint8Array | undefined, NodeJS.ErrnoException>
  /**
   * Closes the file, once a read in flight (an interrupted one) has returned: closing its descriptor
   * under it could make it read from another file that reused the number.
   */
  readonly close: Effect.Effect<void>
}

/** Opens the file (run by `acquireRelease`, uninterruptibly: the descriptor always reaches its release). */
const open = (path: string): Effect.Effect<OpenFile, NodeJS.ErrnoException> =>
  Effect.callback((resume) => {
    fs.open(path, "r", (error, fd) => resume(error ? Effect.fail(error) : Effect.succeed(opened(fd))))
  })

/**
 * Reads on demand, one chunk per `read` (reading one chunk ahead measured no faster). Reads name their
 * position, so a read interrupted and asked again reads the same bytes again.
 */
const opened = (fd: number): OpenFile => {
  let position = 0
  /** Reads not yet returned (more than one only after an interrupted read). */
  let reading = 0
  let afterReads: (() => void) | undefined
  const read = Effect.callback<Uint8Array | undefined, NodeJS.ErrnoException>((resume) => {
    const buffer = Buffer.allocUnsafeSlow(chunkSize)
    const at = position
    reading += 1
    fs.read(fd, buffer, 0, chunkSize, at, (error, bytesRead) => {
      reading -= 1
      if (afterReads !== undefined) {
        if (reading === 0) afterReads()
        return
      }
      if (error) resume(Effect.fail(error))
      else if (bytesRead === 0) resume(Effect.undefined)
      else {
        position = at + bytesRead
        // A plain Uint8Array view: the subarrays the demuxer and the chunk encoder cut from it are the
        // engine's own, several times cheaper than Buffer's.
        resume(Effect.succeed(new Uint8Array(buffer.buffer, buffer.byteOffset, bytesRead)))
      }
    })
  })
  const close = Effect.callback<void>((resume) => {
    const closeNow = () => fs.close(fd, () => resume(Effect.void))
    if (reading > 0) afterReads = closeNow
    else closeNow()
  })
  return { read, close }
}

/**
 * The chunks of the file at `path`, in order; the file is opened when the stream runs and closed when it
 * ends, fails or is interrupted. Errors of `node:fs` go through `onError`.
 *
 * @internal
 */
export const stream = <E>(path: string, onError: (error: unknown) => E): Stream.Stream<Uint8Array, E> =>
  Stream.unwrap(Effect.map(
    Effect.acquireRelease(Effect.mapError(open(path), onError), (file) => file.close),
    (file) => {
      const pull: Pull.Pull<readonly [Uint8Array], E> = Effect.flatMap(
        Effect.mapError(file.read, onError),
        (chunk) => chunk === undefined ? Cause.done() : Effect.succeed([chunk] as const)
      )
      return Stream.fromPull(Effect.succeed(pull))
    }
  ))
