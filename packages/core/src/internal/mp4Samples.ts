/**
 * Walks a track's sample table (`stts`, `ctts`, `stss`, `stsc`, `stsz`/`stz2`, `stco`/`co64`) one sample
 * at a time, in decode order, without expanding it: each sample's file offset, size, decode time,
 * composition offset, sync flag and sample description.
 *
 * @internal
 */
import { Mp4Error } from "./mp4Box.ts"
import type { Track } from "./mp4Movie.ts"

/**
 * A cursor over one track's samples. `load()` reads the sample at `index`; after the last one `done` is set.
 *
 * @internal
 */
export class SampleCursor {
  readonly track: Track
  private readonly view: DataView
  private readonly count: number

  /** 0-based number of the current sample. */
  index = -1
  done = false
  // The current sample
  offset = 0
  size = 0
  /** Decode time, track ticks (before the edit list). */
  dts = 0
  /** Composition time offset, track ticks (pts - dts). */
  cto = 0
  sync = true
  /** 0-based index of its sample description. */
  entry = 0

  // stts
  private sttsIndex = 0
  private sttsLeft = 0
  private delta = 0
  private nextDts = 0
  // ctts
  private cttsIndex = 0
  private cttsLeft = 0
  private cttsValue = 0
  // stss
  private stssIndex = 0
  // stsc and chunks
  private chunk = -1
  private stscIndex = -1
  private inChunk = 0
  private chunkSamples = 0
  private nextOffset = 0

  constructor(track: Track) {
    this.track = track
    this.view = track.table.view
    this.count = track.table.sampleCount
  }

  private fail(reason: string): never {
    throw new Mp4Error(`track ${this.track.id}: ${reason}`, this.track.offset)
  }

  /** Moves to the next sample; returns false (and sets `done`) after the last one. */
  next(): boolean {
    if (this.done) return false
    const t = this.track.table
    const v = this.view
    const n = this.index + 1
    if (n >= this.count) {
      this.done = true
      return false
    }
    this.index = n

    // Decode time
    while (this.sttsLeft === 0) {
      if (this.sttsIndex >= t.stts.count) this.fail(`the "stts" box covers ${n} of the ${this.count} samples`)
      const at = t.stts.at + this.sttsIndex * 8
      this.sttsLeft = v.getUint32(at)
      this.delta = v.getUint32(at + 4)
      this.sttsIndex++
    }
    this.dts = this.nextDts
    this.nextDts += this.delta
    this.sttsLeft--

    // Composition offset (0 past the end of a short ctts, as FFmpeg reads it)
    if (t.ctts !== undefined) {
      while (this.cttsLeft === 0 && this.cttsIndex < t.ctts.count) {
        const at = t.ctts.at + this.cttsIndex * 8
        this.cttsLeft = v.getUint32(at)
        this.cttsValue = v.getInt32(at + 4)
        this.cttsIndex++
      }
      if (this.cttsLeft > 0) {
        this.cto = this.cttsValue
        this.cttsLeft--
      } else {
        this.cto = 0
      }
    }

    // Sync
    if (t.stss !== undefined) {
      const sampleNumber = n + 1
      while (this.stssIndex < t.stss.count && v.getUint32(t.stss.at + this.stssIndex * 4) < sampleNumber) {
        this.stssIndex++
      }
      this.sync = this.stssIndex < t.stss.count && v.getUint32(t.stss.at + this.stssIndex * 4) === sampleNumber
    }

    // Size
    if (t.constantSize !== 0) {
      this.size = t.constantSize
    } else if (t.fieldBits === 32) {
      this.size = v.getUint32(t.sizes.at + n * 4)
    } else if (t.fieldBits === 16) {
      this.size = v.getUint16(t.sizes.at + n * 2)
    } else if (t.fieldBits === 8) {
      this.size = v.getUint8(t.sizes.at + n)
    } else {
      const b = v.getUint8(t.sizes.at + (n >> 1))
      this.size = (n & 1) === 0 ? b >> 4 : b & 0x0f
    }

    // Offset: the next sample of the chunk, or the first of the next non-empty chunk
    while (this.inChunk === this.chunkSamples) this.nextChunk(n)
    this.offset = this.nextOffset
    this.nextOffset += this.size
    this.inChunk++
    return true
  }

  private nextChunk(n: number): void {
    const t = this.track.table
    const v = this.view
    this.chunk++
    if (this.chunk >= t.chunkOffsets.count) {
      this.fail(`the chunk tables ("stsc", "stco") cover ${n} of the ${this.count} samples`)
    }
    // stsc: the entry whose first_chunk (1-based) is the last <= this chunk
    while (this.stscIndex + 1 < t.stsc.count && v.getUint32(t.stsc.at + (this.stscIndex + 1) * 12) <= this.chunk + 1) {
      this.stscIndex++
    }
    if (this.stscIndex < 0) this.fail("the \"stsc\" box does not start at chunk 1")
    const at = t.stsc.at + this.stscIndex * 12
    this.chunkSamples = v.getUint32(at + 4)
    const description = v.getUint32(at + 8)
    if (description < 1 || description > this.track.entries.length) {
      this.fail(`sample_description_index ${description} in "stsc" (the "stsd" box has ${this.track.entries.length})`)
    }
    this.entry = description - 1
    this.inChunk = 0
    const c = t.chunkOffsets.at + this.chunk * (t.wideOffsets ? 8 : 4)
    if (t.wideOffsets) {
      const high = v.getUint32(c)
      if (high >= 0x20_0000) this.fail("a chunk offset beyond 2^53")
      this.nextOffset = high * 0x1_0000_0000 + v.getUint32(c + 4)
    } else {
      this.nextOffset = v.getUint32(c)
    }
  }
}
