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
import type { InvalidMedia } from "../RtmpError.ts"

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
