/**
 * Exact reads over a pull of byte batches: `readExactly(n)` pulls until `n` bytes are buffered, and
 * `reads` continues from whatever is left over. Used where incoming bytes already arrive as a pull (the
 * coroutine transport over Effect's socket, both sides of the in-memory transport).
 *
 * Bytes are kept in the buffer until a read completes, so an interrupted read loses nothing.
 *
 * @internal
 */
import { Effect, Pull, Stream } from "effect"
import * as Arr from "effect/Array"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { UnexpectedEof } from "../TransportError.ts"

/** A source of incoming bytes: each pull yields a batch, and fails with `Cause.Done` at the clean end. */
export type BytePull<E> = Pull.Pull<NonEmptyReadonlyArray<Uint8Array>, E>

/** Exact reads and the rest as a Stream, over one `BytePull`. */
export interface ByteReader<E> {
  readonly readExactly: (n: number) => Effect.Effect<Uint8Array, E | UnexpectedEof>
  readonly reads: Stream.Stream<Uint8Array, E>
}

const empty = new Uint8Array(0)

/** Builds a `ByteReader` over `pull`. One reader at a time. */
export const make = <E>(pull: BytePull<E>): ByteReader<E> => {
  // Buffered chunks are chunks[head..]; an index instead of shift() keeps byte-by-byte input linear.
  let chunks: Array<Uint8Array> = []
  let head = 0
  let buffered = 0

  const append = (batch: NonEmptyReadonlyArray<Uint8Array>) => {
    for (const chunk of batch) {
      if (chunk.length === 0) continue
      chunks.push(chunk)
      buffered += chunk.length
    }
  }

  const clear = () => {
    chunks = []
    head = 0
    buffered = 0
  }

  const dropFirst = () => {
    head++
    if (head === chunks.length) clear()
    else if (head > 1024 && head * 2 > chunks.length) {
      chunks = chunks.slice(head)
      head = 0
    }
  }

  // Removes the first n bytes (0 < n <= buffered), without copying when one chunk holds them all.
  const take = (n: number): Uint8Array => {
    const first = chunks[head]!
    if (first.length >= n) {
      buffered -= n
      if (first.length === n) dropFirst()
      else chunks[head] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = chunks[head]!
      const wanted = n - filled
      if (chunk.length <= wanted) {
        out.set(chunk, filled)
        filled += chunk.length
        buffered -= chunk.length
        dropFirst()
      } else {
        out.set(chunk.subarray(0, wanted), filled)
        chunks[head] = chunk.subarray(wanted)
        buffered -= wanted
        filled = n
      }
    }
    return out
  }

  // Pulls until n bytes are buffered. At the end of the stream the partial bytes are consumed, as a
  // socket's exact read consumes them.
  const fill = (n: number): Effect.Effect<void, E | UnexpectedEof> =>
    Effect.suspend(() =>
      buffered >= n ? Effect.void : pull.pipe(
        Pull.catchDone(() => {
          const received = buffered
          clear()
          return Effect.fail(new UnexpectedEof({ expected: n, received }))
        }),
        Effect.flatMap((batch) => {
          append(batch)
          return fill(n)
        })
      )
    )

  const readExactly = (n: number): Effect.Effect<Uint8Array, E | UnexpectedEof> =>
    Effect.suspend(() => {
      if (n <= 0) return Effect.succeed(empty)
      if (buffered >= n) return Effect.succeed(take(n))
      return Effect.map(fill(n), () => take(n))
    })

  const next: BytePull<E> = Effect.suspend(() => {
    const out = head === 0 ? chunks : chunks.slice(head)
    if (Arr.isArrayNonEmpty(out)) {
      clear()
      return Effect.succeed(out)
    }
    return Effect.flatMap(pull, (batch): BytePull<E> => {
      const pieces = batch.filter((chunk) => chunk.length > 0)
      return Arr.isArrayNonEmpty(pieces) ? Effect.succeed(pieces) : next
    })
  })

  return {
    readExactly,
    reads: Stream.fromPull(Effect.succeed(next))
  }
}
