/**
 * One direction of an in-memory connection: a FIFO of byte chunks with a clean end, an abort (drop
 * everything, readers see the end), a failure (readers fail at once), and a drain wait for writers so a
 * reader that stops reading holds the writer back.
 *
 * @internal
 */
import { Cause, Effect, Exit } from "effect"
import * as Arr from "effect/Array"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { BytePull } from "./ByteReader.ts"

/** One direction of an in-memory connection. */
export interface MemoryPipe<E> {
  /** Queues chunks for the reader, in order; ignored once the pipe is ended, aborted or failed. */
  readonly push: (pieces: ReadonlyArray<Uint8Array>) => void
  /** No more bytes: the reader gets what is queued, then the end. */
  readonly end: () => void
  /** Drops what is queued; the reader sees the end, writers are released. */
  readonly abort: () => void
  /** The reader's pending and next pulls fail with `error`; writers are released. */
  readonly fail: (error: E) => void
  /** Everything queued, as one batch of the chunks as they were pushed. */
  readonly pull: BytePull<E>
  /** Waits until at most `highWaterMark` bytes are queued, or nobody will read them any more. */
  readonly awaitDrain: (highWaterMark: number) => Effect.Effect<void>
}

/** Makes an open, empty pipe. */
export const make = <E>(): MemoryPipe<E> => {
  let chunks: Array<Uint8Array> = []
  let buffered = 0
  let state: "open" | "ended" | "aborted" = "open"
  let failure: { readonly error: E } | undefined
  const listeners = new Set<() => void>()

  const notify = () => {
    if (listeners.size === 0) return
    for (const listener of [...listeners]) listener()
  }

  const when = <A, X>(check: () => Exit.Exit<A, X> | undefined): Effect.Effect<A, X> =>
    Effect.callback<A, X>((resume) => {
      const first = check()
      if (first !== undefined) {
        resume(first)
        return
      }
      // Out of the set while checking: a check that notifies must not re-enter itself.
      const listener = () => {
        listeners.delete(listener)
        const result = check()
        if (result === undefined) listeners.add(listener)
        else resume(result)
      }
      listeners.add(listener)
      return Effect.sync(() => listeners.delete(listener))
    })

  const drop = () => {
    chunks = []
    buffered = 0
  }

  return {
    push: (pieces) => {
      if (state !== "open" || failure !== undefined) return
      for (const piece of pieces) {
        if (piece.length === 0) continue
        chunks.push(piece)
        buffered += piece.length
      }
      notify()
    },
    end: () => {
      if (state !== "open") return
      state = "ended"
      notify()
    },
    abort: () => {
      state = "aborted"
      drop()
      notify()
    },
    fail: (error) => {
      if (failure !== undefined) return
      failure = { error }
      drop()
      notify()
    },
    pull: when<NonEmptyReadonlyArray<Uint8Array>, E | Cause.Done>(() => {
      if (failure !== undefined) return Exit.fail(failure.error)
      const batch = chunks
      if (Arr.isArrayNonEmpty(batch)) {
        drop()
        notify()
        return Exit.succeed(batch)
      }
      return state === "open" ? undefined : Exit.fail(Cause.Done())
    }),
    awaitDrain: (highWaterMark) =>
      when<void, never>(() =>
        buffered <= highWaterMark || state === "aborted" || failure !== undefined ? Exit.void : undefined
      )
  }
}
