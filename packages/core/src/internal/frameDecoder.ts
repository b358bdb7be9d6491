/**
 * The shape shared by the synchronous, IO-free media decoders (FLV, MP4): push bytes, `decode` frames
 * until more input is needed, the input ended, or it is invalid; and the thin Stream shell around them.
 *
 * @internal
 */
import type * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import type { MediaFrame } from "../MediaFrame.ts"
import { InvalidMedia } from "../RtmpError.ts"
import { ByteQueue } from "./flvByteQueue.ts"

/** @internal */
export const NeedInput: unique symbol = Symbol.for("effect-rtmp/FrameDecoder/NeedInput")
/** @internal */
export const End: unique symbol = Symbol.for("effect-rtmp/FrameDecoder/End")

/**
 * What `decode` stopped on: more input is needed, the input ended cleanly, or it is invalid.
 *
 * @internal
 */
export type Status = typeof NeedInput | typeof End | InvalidMedia

/**
 * A synchronous media decoder.
 *
 * @internal
 */
export interface FrameDecoder {
  /** Adds input bytes (kept, not copied). */
  push(chunk: Uint8Array): void
  /** Marks the end of the input. */
  end(): void
  /** Decodes as many frames as the pushed bytes hold into `out`; after an error, returns it again. */
  decode(out: Array<MediaFrame>): Status
}

/**
 * What the FLV and MP4 decoders share: the input queue, the end of the input, and an error that sticks.
 * A subclass implements `run`; `decode` keeps the first `InvalidMedia` it returns (or `fail`s with), and
 * a decoder that failed or reached its end (`finish`) keeps no more input.
 *
 * @internal
 */
export abstract class ByteDecoder implements FrameDecoder {
  protected readonly queue = new ByteQueue()
  /** `end` was called: no more input will come. */
  protected ended = false
  private done = false
  private failed: InvalidMedia | undefined = undefined

  /** Names the input in errors (a path or `stdin`). */
  readonly source: string

  constructor(source: string) {
    this.source = source
  }

  /** Adds input bytes. The chunk is kept (not copied) until the frames that reference it are dropped. */
  push(chunk: Uint8Array): void {
    if (!this.done) this.queue.push(chunk)
  }

  /** Marks the end of the input: `decode` then reports `End` or a truncation instead of `NeedInput`. */
  end(): void {
    this.ended = true
  }

  /**
   * Decodes as much as the pushed bytes allow, appending frames to `out`, and tells why it stopped.
   * After an `InvalidMedia`, every later call returns the same error.
   */
  decode(out: Array<MediaFrame>): Status {
    if (this.failed !== undefined) return this.failed
    const status = this.run(out)
    if (status instanceof InvalidMedia) {
      this.failed = status
      this.done = true
      this.queue.clear()
    }
    return status
  }

  /** Decodes from the queue (see `decode`). */
  protected abstract run(out: Array<MediaFrame>): Status

  /** The input ended cleanly: later bytes are not kept. */
  protected reachedEnd(): typeof End {
    this.done = true
    return End
  }

  /** An `InvalidMedia` about this input at byte `offset`. */
  protected error(reason: string, offset: number): InvalidMedia {
    return new InvalidMedia({ source: this.source, reason, offset })
  }
}

/**
 * Runs a decoder over a byte Stream: frames decoded before an error or the end go out first, the error or
 * the end on the next pull.
 *
 * @internal
 */
export const decodeFrames = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  make: () => FrameDecoder
): Stream.Stream<MediaFrame, E | InvalidMedia, R> =>
  Stream.transformPull(bytes, (upstream) =>
    Effect.sync(() => {
      const decoder = make()
      let status: typeof End | InvalidMedia | undefined

      const pullInput = upstream.pipe(
        Effect.map((chunks) => {
          for (const chunk of chunks) decoder.push(chunk)
        }),
        Pull.catchDone(() => Effect.sync(() => decoder.end()))
      )

      const pull: Pull.Pull<Arr.NonEmptyReadonlyArray<MediaFrame>, E | InvalidMedia> = Effect.suspend(
        function loop(): Pull.Pull<Arr.NonEmptyReadonlyArray<MediaFrame>, E | InvalidMedia> {
          if (status === End) return Cause.done()
          if (status !== undefined) return Effect.fail(status)
          const out: Array<MediaFrame> = []
          const result = decoder.decode(out)
          if (result !== NeedInput) status = result
          if (out.length > 0) return Effect.succeed(out as unknown as Arr.NonEmptyReadonlyArray<MediaFrame>)
          return result === NeedInput ? Effect.flatMap(pullInput, loop) : loop()
        }
      )
      return pull
    }))
