/**
 * Random-access reading of a progressive MP4 (all samples listed in the `moov`, wherever the `moov` is):
 * the order to read the samples in (decode order, interleaved across tracks by decode time, ties in
 * track order), synchronous and IO-free. `Mp4Demuxer.demuxFile` reads each sample's bytes from the file
 * and hands them back to `write`.
 *
 * @internal
 */
import type { MediaFrame } from "../MediaFrame.ts"
import { type FrameWriter, type TrackOutput } from "./mp4Frames.ts"
import { SampleCursor } from "./mp4Samples.ts"

/**
 * A sample to read: where its bytes are.
 *
 * @internal
 */
export interface PlannedSample {
  /** Index of the track in the outputs. */
  readonly output: number
  readonly offset: number
  readonly size: number
}

/**
 * The samples of the selected tracks, in decode order across tracks.
 *
 * @internal
 */
export class ProgressivePlan {
  private readonly writer: FrameWriter
  private readonly outputs: ReadonlyArray<TrackOutput>
  private readonly cursors: ReadonlyArray<SampleCursor>
  /** Each cursor's current sample's decode time, ms rounded (`Infinity` when done): the merge key. */
  private readonly keys: Array<number>

  constructor(outputs: ReadonlyArray<TrackOutput>, writer: FrameWriter) {
    this.outputs = outputs
    this.writer = writer
    this.cursors = outputs.map((o) => new SampleCursor(o.track))
    this.keys = this.cursors.map(() => Number.POSITIVE_INFINITY)
    const first: Array<number> = []
    for (let i = 0; i < this.cursors.length; i++) {
      const cursor = this.cursors[i]!
      if (!cursor.next()) continue
      outputs[i]!.entry = cursor.entry
      first.push(outputs[i]!.ms(cursor.dts))
      this.keys[i] = Math.round(outputs[i]!.ms(cursor.dts))
    }
    writer.setShift(first)
  }

  /** The next sample to read, or `undefined` after the last. */
  peek(): PlannedSample | undefined {
    let best = -1
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i]! !== Number.POSITIVE_INFINITY && (best < 0 || this.keys[i]! < this.keys[best]!)) best = i
    }
    if (best < 0) return undefined
    const cursor = this.cursors[best]!
    return { output: best, offset: cursor.offset, size: cursor.size }
  }

  /** Appends the frame of the sample `peek` returned, given its bytes, and moves past it. */
  write(out: Array<MediaFrame>, sample: PlannedSample, payload: Uint8Array): void {
    const i = sample.output
    const cursor = this.cursors[i]!
    const output = this.outputs[i]!
    this.writer.write(out, output, cursor.dts, cursor.cto, cursor.sync, cursor.entry, payload)
    this.keys[i] = cursor.next() ? Math.round(output.ms(cursor.dts)) : Number.POSITIVE_INFINITY
  }

  /** Where a sample lies, for errors: its track id and 1-based number. */
  describe(sample: PlannedSample): string {
    const cursor = this.cursors[sample.output]!
    return `sample ${cursor.index + 1} of track ${cursor.track.id} (${sample.size} bytes at byte ${sample.offset})`
  }
}
