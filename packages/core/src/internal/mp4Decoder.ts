/**
 * The synchronous, IO-free MP4 decoder for a byte stream (a pipe, or a file read front to back): push
 * bytes in, get `MediaFrame`s, "need more input", the end, or an `InvalidMedia` out.
 * `Mp4Demuxer.demux` wraps it in a Stream.
 *
 * It reads top-level boxes in order, holding in memory only `moov`, one `moof` and the samples in flight:
 *
 * - `moov` (before any `mdat`): the tracks; the configuration records are the first frames.
 * - `mdat` after a `moov` whose sample tables list samples (a progressive, "faststart" file, or the first
 *   part of a fragmented file written without `empty_moov`): each sample is emitted as soon as its bytes
 *   have passed, in file order.
 * - `moof` then `mdat` (fragmented MP4, e.g. `ffmpeg -movflags frag_keyframe+empty_moov`): the samples of
 *   the fragment are collected from the `mdat`, then emitted interleaved across tracks by decode time (a
 *   fragment holds one track's samples after another's; RTMP wants them interleaved).
 * - anything else (`ftyp`, `styp`, `free`, `sidx`, `mfra`, ...) is skipped.
 *
 * An `mdat` before the `moov` cannot be read without random access (the sample index comes after the
 * data): that is an error here, and what `Mp4Demuxer.demuxFile` is for.
 *
 * @internal
 */
import type { MediaFrame } from "../MediaFrame.ts"
import type { InvalidMedia } from "../RtmpError.ts"
import { leadingBoxTypes, Mp4Error, parseBoxHeader } from "./mp4Box.ts"
import { type FragmentSample, type FragmentTrack, parseFragment } from "./mp4Fragment.ts"
import { FrameWriter, type TrackOutput, trackOutputs } from "./mp4Frames.ts"
import { type Movie, parseMovie, selectTracks, type TrackSelection } from "./mp4Movie.ts"
import { SampleCursor } from "./mp4Samples.ts"

import { ByteDecoder, End, NeedInput, type Status } from "./frameDecoder.ts"

export { End, NeedInput, type Status }

/**
 * Limits on what is held in memory: the `moov` box, one `moof` box, one sample, the samples of one
 * fragment (interleaved only once all have arrived).
 *
 * @internal
 */
export const Limits = {
  moov: 256 * 1024 * 1024,
  moof: 64 * 1024 * 1024,
  sample: 128 * 1024 * 1024,
  fragment: 512 * 1024 * 1024
} as const

const mib = (n: number): string => `${Math.round(n / (1024 * 1024))} MiB`

/**
 * One MP4 input being decoded. Not reusable: one per input.
 *
 * @internal
 */
export class Mp4Decoder extends ByteDecoder {
  private phase: "header" | "box" | "skip" | "mdat" | "done" = "header"

  // The top-level box being read
  private boxType = ""
  private boxStart = 0
  private boxSize = 0
  private headerSize = 0
  /** Bytes to skip; `Infinity` for a box that extends to the end of the input. */
  private toSkip = 0
  private mdatEnd = 0

  private movie: Movie | undefined = undefined
  private outputs: ReadonlyArray<TrackOutput> = []
  private writer: FrameWriter | undefined = undefined
  private fragmentTracks = new Map<number, FragmentTrack>()
  /** Progressive samples (from the `moov` sample tables) still to read: a cursor per output that has some. */
  private cursors: Array<{ readonly cursor: SampleCursor; readonly output: TrackOutput }> = []
  /** The current fragment's samples in data order, and the payloads collected so far. */
  private fragment: ReadonlyArray<FragmentSample> | undefined = undefined
  private fragmentOffset = 0
  private payloads: Array<Uint8Array> = []
  private fragmentBytes = 0

  private readonly selection: TrackSelection

  constructor(source: string, selection: TrackSelection) {
    super(source)
    this.selection = selection
  }

  /** Decodes (see `ByteDecoder.decode`); the box parsers' `Mp4Error`s become `InvalidMedia`. */
  protected run(out: Array<MediaFrame>): Status {
    try {
      return this.step(out)
    } catch (error) {
      if (!(error instanceof Mp4Error)) throw error
      return this.error(error.reason, error.offset)
    }
  }

  private step(out: Array<MediaFrame>): Status {
    const q = this.queue
    for (;;) {
      switch (this.phase) {
        case "done":
          return End
        case "header": {
          if (q.available < 8) {
            if (!this.ended) return NeedInput
            if (q.available === 0) return this.finish(out)
            return this.error(`truncated box header (${q.available} of 8 bytes)`, q.consumed)
          }
          const offset = q.consumed
          const header = parseBoxHeader(q.peek(Math.min(16, q.available)), offset)
          if (header === undefined) {
            if (!this.ended) return NeedInput
            return this.error(`truncated box header (${q.available} of 16 bytes)`, offset)
          }
          if (offset === 0 && !leadingBoxTypes.has(header.type)) {
            return this.error(`not an MP4 file (it starts with a "${header.type}" box)`, 0)
          }
          this.boxType = header.type
          this.boxStart = offset
          this.headerSize = header.headerSize
          const status = this.openBox(header.type, header.size, offset)
          if (status !== undefined) return status
          break
        }
        case "box": {
          if (q.available < this.boxSize) {
            if (!this.ended) return NeedInput
            return this.error(
              `truncated "${this.boxType}" box (${q.available} of ${this.boxSize} bytes)`,
              this.boxStart
            )
          }
          const bytes = q.take(this.boxSize).subarray(this.headerSize)
          const bodyOffset = this.boxStart + this.headerSize
          if (this.boxType === "moov") this.readMovie(bytes, bodyOffset)
          else this.readFragment(bytes, bodyOffset)
          this.phase = "header"
          break
        }
        case "skip": {
          const n = Math.min(this.toSkip, q.available)
          q.skip(n)
          this.toSkip -= n
          if (this.toSkip > 0) {
            if (!this.ended) return NeedInput
            if (this.toSkip === Number.POSITIVE_INFINITY) return this.finish(out)
            return this.error(
              `truncated "${this.boxType}" box (${q.consumed - this.boxStart} of ${q.consumed - this.boxStart + this.toSkip} bytes)`,
              this.boxStart
            )
          }
          this.phase = "header"
          break
        }
        case "mdat": {
          const status = this.readMdat(out)
          if (status !== undefined) return status
          break
        }
      }
    }
  }

  /** Starts reading a top-level box whose header is at the read position. */
  private openBox(type: string, size: number | undefined, offset: number): Status | undefined {
    const q = this.queue
    switch (type) {
      case "moov":
      case "moof": {
        if (type === "moov" && this.movie !== undefined) return this.error("a second \"moov\" box", offset)
        if (type === "moof" && this.movie === undefined) {
          return this.error("a \"moof\" box before the \"moov\" box", offset)
        }
        if (size === undefined) return this.error(`"${type}" box with size 0 (to the end of the file)`, offset)
        const limit = type === "moov" ? Limits.moov : Limits.moof
        if (size > limit) return this.error(`"${type}" box of ${size} bytes, over the ${mib(limit)} limit`, offset)
        this.boxSize = size
        this.phase = "box"
        return undefined
      }
      case "mdat": {
        if (this.movie === undefined) {
          return this.error(
            "the \"mdat\" box comes before the \"moov\" box: the sample index is at the end, which needs random " +
              "access; read the file itself rather than a pipe, or write it with -movflags +faststart",
            offset
          )
        }
        q.skip(this.headerSize)
        this.mdatEnd = size === undefined ? Number.POSITIVE_INFINITY : offset + size
        this.phase = "mdat"
        return undefined
      }
      default:
        this.toSkip = size ?? Number.POSITIVE_INFINITY
        this.phase = "skip"
        return undefined
    }
  }

  private readMovie(bytes: Uint8Array, bodyOffset: number): void {
    const movie = parseMovie(bytes, bodyOffset)
    const selected = selectTracks(movie, this.selection, this.boxStart)
    this.movie = movie
    this.outputs = trackOutputs(selected)
    this.writer = new FrameWriter(this.outputs)
    for (const track of movie.tracks) {
      this.fragmentTracks.set(track.id, {
        id: track.id,
        output: selected.indexOf(track),
        entryCount: track.entries.length,
        defaults: track.defaults,
        nextDts: 0
      })
    }
    // Progressive samples listed in the moov: read in file order from the mdat(s) that follow
    const first: Array<number> = []
    for (const output of this.outputs) {
      const cursor = new SampleCursor(output.track)
      if (!cursor.next()) continue
      output.entry = cursor.entry
      first.push(output.ms(cursor.dts))
      this.cursors.push({ cursor, output })
      // Fragments that follow continue the track's decode time (when they have no tfdt)
      this.fragmentTracks.get(output.track.id)!.nextDts = sampleTableDuration(cursor)
    }
    if (first.length > 0) this.writer.setShift(first)
  }

  private readFragment(bytes: Uint8Array, bodyOffset: number): void {
    if (this.fragment !== undefined) {
      throw new Mp4Error(
        `the data of ${this.fragment.length - this.payloads.length} samples of the previous fragment is missing`,
        this.boxStart
      )
    }
    if (this.cursors.length > 0) this.missingProgressive()
    const samples = parseFragment(bytes, bodyOffset, this.boxStart, this.fragmentTracks)
    if (samples.length === 0) return
    const writer = this.writer!
    if (!writer.hasShift) {
      const first = new Map<number, number>()
      for (const s of samples) {
        const ms = this.outputs[s.output]!.ms(s.dts)
        const known = first.get(s.output)
        if (known === undefined || ms < known) first.set(s.output, ms)
      }
      writer.setShift([...first.values()])
    }
    for (const s of samples) {
      const output = this.outputs[s.output]!
      if (output.entry < 0) output.entry = s.entry
    }
    this.fragment = samples
    this.fragmentOffset = this.boxStart
    this.payloads = []
    this.fragmentBytes = 0
  }

  /** Reads samples out of the current `mdat`; `undefined` when the box is done (back to "header"). */
  private readMdat(out: Array<MediaFrame>): Status | undefined {
    const q = this.queue
    for (;;) {
      let offset: number
      let size: number
      let progressive: { readonly cursor: SampleCursor; readonly output: TrackOutput } | undefined
      if (this.fragment !== undefined) {
        const sample = this.fragment[this.payloads.length]!
        offset = sample.offset
        size = sample.size
      } else {
        progressive = this.nextCursor()
        offset = progressive?.cursor.offset ?? Number.POSITIVE_INFINITY
        size = progressive?.cursor.size ?? 0
      }
      if (offset >= this.mdatEnd) {
        // Nothing more in this mdat: skip its rest
        this.toSkip = this.mdatEnd - q.consumed
        this.phase = "skip"
        return undefined
      }
      if (offset < q.consumed) {
        throw new Mp4Error(
          `sample data at byte ${offset} lies before the read position (byte ${q.consumed}): outside the "mdat" box ` +
            "or in data already read",
          offset
        )
      }
      if (offset + size > this.mdatEnd) {
        throw new Mp4Error(`a sample of ${size} bytes at byte ${offset} overruns its "mdat" box`, offset)
      }
      if (size > Limits.sample) throw new Mp4Error(`a sample of ${size} bytes, over the ${mib(Limits.sample)} limit`, offset)
      const gap = offset - q.consumed
      if (gap > 0) {
        const n = Math.min(gap, q.available)
        q.skip(n)
        if (n < gap) {
          if (!this.ended) return NeedInput
          return this.truncated(offset)
        }
      }
      if (q.available < size) {
        if (!this.ended) return NeedInput
        return this.truncated(offset)
      }
      const payload = q.take(size)
      if (progressive !== undefined) {
        const { cursor, output } = progressive
        this.writer!.write(out, output, cursor.dts, cursor.cto, cursor.sync, cursor.entry, payload)
        if (!cursor.next()) this.cursors = this.cursors.filter((c) => c !== progressive)
      } else {
        this.payloads.push(payload)
        this.fragmentBytes += size
        if (this.fragmentBytes > Limits.fragment) {
          throw new Mp4Error(`a fragment of over ${mib(Limits.fragment)} of samples`, this.fragmentOffset)
        }
        if (this.payloads.length === this.fragment!.length) this.flushFragment(out)
      }
      if (q.consumed === this.mdatEnd) {
        this.phase = "header"
        return undefined
      }
    }
  }

  /** The progressive cursor whose next sample comes first in the file. */
  private nextCursor(): { readonly cursor: SampleCursor; readonly output: TrackOutput } | undefined {
    let best: { readonly cursor: SampleCursor; readonly output: TrackOutput } | undefined
    for (const c of this.cursors) if (best === undefined || c.cursor.offset < best.cursor.offset) best = c
    return best
  }

  /** Emits the collected fragment, interleaved by decode time (ties: in track order), then forgets it. */
  private flushFragment(out: Array<MediaFrame>): void {
    const samples = this.fragment!
    const payloads = this.payloads
    const keys = samples.map((s) => Math.round(this.outputs[s.output]!.ms(s.dts)))
    const order = samples.map((_, i) => i)
    order.sort((a, b) => keys[a]! - keys[b]! || samples[a]!.output - samples[b]!.output || a - b)
    const writer = this.writer!
    for (const i of order) {
      const s = samples[i]!
      writer.write(out, this.outputs[s.output]!, s.dts, s.cto, s.sync, s.entry, payloads[i]!)
    }
    this.fragment = undefined
    this.payloads = []
  }

  private truncated(offset: number): InvalidMedia {
    return this.error(
      `truncated: the input ends inside the "mdat" box (byte ${this.queue.consumed}), before the sample data at byte ${offset}`,
      offset
    )
  }

  private missingProgressive(): never {
    const c = this.nextCursor()!.cursor
    throw new Mp4Error(
      `truncated: the data of track ${c.track.id} from its sample ${c.index + 1} of ${c.track.table.sampleCount} ` +
        `(at byte ${c.offset}) is not in an "mdat" box before byte ${this.queue.consumed}`,
      c.offset
    )
  }

  /** At the end of the input, between boxes. */
  private finish(out: Array<MediaFrame>): Status {
    const q = this.queue
    if (this.movie === undefined) {
      return q.consumed === 0
        ? this.error("empty input (0 bytes), expected an MP4 file", 0)
        : this.error("no \"moov\" box: not a complete MP4 file", q.consumed)
    }
    if (this.fragment !== undefined) {
      return this.error(
        `truncated: the input ends before the data of ${this.fragment.length - this.payloads.length} samples of ` +
          `the fragment at byte ${this.fragmentOffset}`,
        q.consumed
      )
    }
    if (this.cursors.length > 0) this.missingProgressive()
    if (!this.writer!.isStarted) this.writer!.start(out, 0)
    this.phase = "done"
    return this.reachedEnd()
  }
}

/** The decode time at the end of a track's sample table (sum of the `stts` deltas). */
const sampleTableDuration = (cursor: SampleCursor): number => {
  const t = cursor.track.table
  let total = 0
  for (let i = 0; i < t.stts.count; i++) {
    total += t.view.getUint32(t.stts.at + i * 8) * t.view.getUint32(t.stts.at + i * 8 + 4)
  }
  return total
}
