/**
 * From MP4 samples to `MediaFrame`s: timestamps in milliseconds, the configuration records first, and a
 * new configuration record where a track switches sample description. Shared by the streaming decoder
 * (`mp4Decoder.ts`) and the random-access file reader (`Mp4Demuxer.demuxFile`).
 *
 * Timestamps. A sample's times in track ticks are placed on the presentation timeline the way FFmpeg
 * does: minus the edit list's `media_time` (the first media edit), plus the duration of leading empty
 * edits; then converted to milliseconds, rounded to the nearest (pts and dts separately: `cts` is
 * `round(pts) - round(dts)`, so both come out as ffprobe shows them). RTMP timestamps cannot be negative,
 * so when the first samples fall before 0 (B-frames: the first dts is before the first pts; AAC priming:
 * the first audio packet is before 0) every track is shifted later by the same amount, the least that
 * makes the earliest dts 0: what `ffmpeg -c copy -f flv` does (`avoid_negative_ts make_non_negative`).
 * Timestamps that are not negative are the file's own, not rebased. A track's dts never goes back: a
 * decreasing one is raised to the previous one (and its `cts` lowered to keep its pts).
 *
 * @internal
 */
import type { MediaFrame } from "../MediaFrame.ts"
import type { Track } from "./mp4Movie.ts"

/**
 * A track being demuxed, with what is needed to time its samples.
 *
 * @internal
 */
export class TrackOutput {
  readonly track: Track
  /** `MediaFrame.track`: 0 for the first selected track of its kind, 1 for the second, ... */
  readonly number: number
  readonly kind: "video" | "audio"
  /** Sample description in use (its configuration was sent), or -1 before the first frame. */
  entry = -1
  private lastDts = Number.NEGATIVE_INFINITY

  constructor(track: Track, number: number) {
    this.track = track
    this.number = number
    this.kind = track.kind!
  }

  /**
   * A time in track ticks on the presentation timeline, in ms (not rounded, not shifted). Computed as
   * one division of integers, so that it rounds as ffprobe's `dts * 1000 / timescale` does.
   */
  ms(ticks: number): number {
    return ((ticks - this.track.mediaTime) * 1000) / this.track.timescale + this.track.emptyMs
  }

  /** Clamps a dts (ms) so that the track's dts never decreases. */
  monotonic(dts: number): number {
    const out = dts < this.lastDts ? this.lastDts : dts
    this.lastDts = out
    return out
  }
}

/**
 * The tracks' outputs, numbered per kind in the order given.
 *
 * @internal
 */
export const trackOutputs = (tracks: ReadonlyArray<Track>): Array<TrackOutput> => {
  const counts = { video: 0, audio: 0 }
  return tracks.map((t) => new TrackOutput(t, counts[t.kind!]++))
}

/**
 * Makes the frames of the selected tracks.
 *
 * @internal
 */
export class FrameWriter {
  readonly tracks: ReadonlyArray<TrackOutput>
  /** ms added to every timestamp so that none is negative; set by `setShift` before the first frame. */
  private shift = 0
  private shiftSet = false
  private started = false

  constructor(tracks: ReadonlyArray<TrackOutput>) {
    this.tracks = tracks
  }

  get hasShift(): boolean {
    return this.shiftSet
  }

  /**
   * Sets the shift from the first decode time (ms, unrounded) of each track that has samples: the
   * least that makes them all non-negative.
   */
  setShift(firstDts: ReadonlyArray<number>): void {
    let min = 0
    for (const dts of firstDts) min = Math.min(min, Math.round(dts))
    this.shift = -min
    this.shiftSet = true
  }

  /**
   * Appends the frame of one sample (times in track ticks), preceded, before the first frame, by every
   * track's configuration record, and, where the sample description changes, by the new one's.
   */
  write(
    out: Array<MediaFrame>,
    output: TrackOutput,
    dtsTicks: number,
    ctoTicks: number,
    keyframe: boolean,
    entry: number,
    payload: Uint8Array
  ): void {
    const dtsMs = output.ms(dtsTicks)
    const dts = output.monotonic(Math.max(0, Math.round(dtsMs) + this.shift))
    const pts = Math.round(output.ms(dtsTicks + ctoTicks)) + this.shift
    if (!this.started) this.start(out, dts)
    if (entry !== output.entry) {
      output.entry = entry
      this.config(out, output, dts)
    }
    out.push({
      kind: output.kind,
      codec: output.track.entries[entry]!.codec!,
      dts,
      cts: pts - dts,
      keyframe,
      config: false,
      payload,
      track: output.number
    })
  }

  /**
   * Before the first frame: each track's configuration record (of the sample description its samples
   * start with, else the first), at `dts`.
   */
  start(out: Array<MediaFrame>, dts: number): void {
    this.started = true
    for (const output of this.tracks) {
      if (output.entry < 0) output.entry = 0
      this.config(out, output, dts)
    }
  }

  /** Whether the configuration records went out. */
  get isStarted(): boolean {
    return this.started
  }

  private config(out: Array<MediaFrame>, output: TrackOutput, dts: number): void {
    const entry = output.track.entries[output.entry]!
    if (entry.config === undefined) return
    out.push({
      kind: output.kind,
      codec: entry.codec!,
      dts,
      cts: 0,
      keyframe: true,
      config: true,
      payload: entry.config,
      track: output.number
    })
  }
}
