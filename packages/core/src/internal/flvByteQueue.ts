/**
 * A queue of input chunks read front to back, for the FLV decoder: bytes are handed out as subarrays of
 * the chunk they lie in, and copied only when a range spans chunks.
 *
 * @internal
 */

/**
 * Input chunks not yet consumed, with a read position; tracks the absolute offset for error messages.
 *
 * @internal
 */
export class ByteQueue {
  private chunks: Array<Uint8Array | undefined> = []
  /** Index of the chunk holding the read position. */
  private head = 0
  /** Read position inside `chunks[head]`. */
  private pos = 0
  private readonly scratch = new Uint8Array(16)
  /** Bytes pushed and not yet consumed. */
  available = 0
  /** Absolute position of the read position in the whole input (for error offsets). */
  consumed = 0

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.available += chunk.length
  }

  /** The byte at `index` bytes past the read position; `index < available`. */
  byteAt(index: number): number {
    let i = this.head
    let at = this.pos + index
    for (;;) {
      const chunk = this.chunks[i]!
      if (at < chunk.length) return chunk[at]!
      at -= chunk.length
      i++
    }
  }

  /**
   * A view of the next `n` bytes (`n <= 16`, `n <= available`) without consuming them: a subarray of the
   * current chunk, or a reused scratch buffer when they span chunks. Valid until the next call.
   */
  peek(n: number): Uint8Array {
    const chunk = this.chunks[this.head]!
    if (chunk.length - this.pos >= n) return chunk.subarray(this.pos, this.pos + n)
    for (let k = 0; k < n; k++) this.scratch[k] = this.byteAt(k)
    return this.scratch
  }

  /** Consumes the next `n` bytes (`n <= available`): a subarray when they lie in one chunk, else a copy. */
  take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0)
    const chunk = this.chunks[this.head]!
    const left = chunk.length - this.pos
    if (left >= n) {
      const out = chunk.subarray(this.pos, this.pos + n)
      this.advance(n)
      return out
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const current = this.chunks[this.head]!
      const count = Math.min(current.length - this.pos, n - filled)
      out.set(current.subarray(this.pos, this.pos + count), filled)
      filled += count
      this.advance(count)
    }
    return out
  }

  /** Consumes the next `n` bytes (`n <= available`) without looking at them. */
  skip(n: number): void {
    while (n > 0) {
      const chunk = this.chunks[this.head]!
      const count = Math.min(chunk.length - this.pos, n)
      this.advance(count)
      n -= count
    }
  }

  /** Drops everything (after an error, or when the reader is done). */
  clear(): void {
    this.chunks = []
    this.head = 0
    this.pos = 0
    this.available = 0
  }

  /** Moves the read position by `n` bytes, all within `chunks[head]`. */
  private advance(n: number): void {
    this.pos += n
    this.available -= n
    this.consumed += n
    if (this.pos === this.chunks[this.head]!.length) {
      // Release the chunk; compact the array now and then so that it does not grow without bound
      this.chunks[this.head] = undefined
      this.head++
      this.pos = 0
      if (this.head === this.chunks.length) {
        this.chunks = []
        this.head = 0
      } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
        this.chunks = this.chunks.slice(this.head)
        this.head = 0
      }
    }
  }
}
