/**
 * A movie fragment (`moof`: `mfhd`, `traf/{tfhd, tfdt, trun}`): the samples it describes, with their
 * absolute file offsets (data follows in an `mdat`), decode times, composition offsets and sync flags.
 *
 * @internal
 */
import { BoxReader, child, children, Mp4Error } from "./mp4Box.ts"
import type { TrackDefaults } from "./mp4Movie.ts"

/**
 * One sample of a fragment.
 *
 * @internal
 */
export interface FragmentSample {
  /** Index of the track in the selected outputs. */
  readonly output: number
  readonly offset: number
  readonly size: number
  /** Decode time, track ticks. */
  readonly dts: number
  /** Composition offset, track ticks. */
  readonly cto: number
  readonly sync: boolean
  /** 0-based sample description index. */
  readonly entry: number
}

/**
 * What the fragment parser needs to know of a track.
 *
 * @internal
 */
export interface FragmentTrack {
  readonly id: number
  /** Index in the selected outputs, or -1 for a track that is not demuxed (its samples are skipped). */
  readonly output: number
  readonly entryCount: number
  readonly defaults: TrackDefaults | undefined
  /** Decode time after the track's last fragment, for fragments without `tfdt`. */
  nextDts: number
}

// tfhd flags
const BaseDataOffsetPresent = 0x1
const SampleDescriptionIndexPresent = 0x2
const DefaultSampleDurationPresent = 0x8
const DefaultSampleSizePresent = 0x10
const DefaultSampleFlagsPresent = 0x20
const DefaultBaseIsMoof = 0x20000
// trun flags
const DataOffsetPresent = 0x1
const FirstSampleFlagsPresent = 0x4
const SampleDurationPresent = 0x100
const SampleSizePresent = 0x200
const SampleFlagsPresent = 0x400
const SampleCompositionTimeOffsetsPresent = 0x800
// sample flags: sample_is_non_sync_sample, and sample_depends_on == 1 (depends on others), as FFmpeg reads them
const NonSyncSample = 0x0001_0000
const DependsOnOthers = 0x0100_0000

/**
 * The samples of one `moof` (body in `bytes`, box at absolute `moofOffset`) for the demuxed tracks, in
 * the order of their data. Fails on a `traf` of an unknown track or malformed boxes.
 *
 * @internal
 */
export const parseFragment = (
  bytes: Uint8Array,
  bodyOffset: number,
  moofOffset: number,
  tracks: ReadonlyMap<number, FragmentTrack>
): Array<FragmentSample> => {
  const moof = new BoxReader(bytes, bodyOffset, "moof")
  const samples: Array<FragmentSample> = []
  // Without base_data_offset or default-base-is-moof, a traf's data follows the previous traf's
  let previousEnd = moofOffset
  for (const traf of children(moof)) {
    if (traf.type !== "traf") continue
    const boxes = children(traf.body)
    const tfhdBox = child(boxes, "tfhd")
    if (tfhdBox === undefined) throw new Mp4Error("\"traf\" box without its \"tfhd\" box", traf.body.base + traf.start)
    const tfhd = tfhdBox.body
    const { flags } = tfhd.fullBox()
    const trackId = tfhd.u32()
    const track = tracks.get(trackId)
    if (track === undefined) {
      throw new Mp4Error(`fragment of track ${trackId}, which the "moov" box does not have`, tfhd.offset - 4)
    }
    const defaults = track.defaults
    const base = (flags & BaseDataOffsetPresent) !== 0
      ? tfhd.u64()
      : (flags & DefaultBaseIsMoof) !== 0
      ? moofOffset
      : previousEnd
    const description = (flags & SampleDescriptionIndexPresent) !== 0
      ? tfhd.u32()
      : defaults?.sampleDescriptionIndex ?? 1
    const defaultDuration = (flags & DefaultSampleDurationPresent) !== 0 ? tfhd.u32() : defaults?.sampleDuration ?? 0
    const defaultSize = (flags & DefaultSampleSizePresent) !== 0 ? tfhd.u32() : defaults?.sampleSize ?? 0
    const defaultFlags = (flags & DefaultSampleFlagsPresent) !== 0 ? tfhd.u32() : defaults?.sampleFlags ?? 0
    if (description < 1 || description > track.entryCount) {
      tfhd.fail(`track ${trackId}: sample_description_index ${description} (the "stsd" box has ${track.entryCount})`)
    }

    const tfdt = child(boxes, "tfdt")
    let dts = track.nextDts
    if (tfdt !== undefined) {
      const r = tfdt.body
      const { version } = r.fullBox()
      dts = version === 1 ? r.u64() : r.u32()
    }

    let dataAt = base
    let first = true
    for (const trunBox of boxes) {
      if (trunBox.type !== "trun") continue
      const r = trunBox.body
      const trunFlags = r.fullBox().flags
      const count = r.u32()
      if ((trunFlags & DataOffsetPresent) !== 0) dataAt = base + r.i32()
      else if (first) dataAt = base
      first = false
      const firstFlags = (trunFlags & FirstSampleFlagsPresent) !== 0 ? r.u32() : undefined
      const perSample = ((trunFlags & SampleDurationPresent) !== 0 ? 4 : 0) +
        ((trunFlags & SampleSizePresent) !== 0 ? 4 : 0) +
        ((trunFlags & SampleFlagsPresent) !== 0 ? 4 : 0) +
        ((trunFlags & SampleCompositionTimeOffsetsPresent) !== 0 ? 4 : 0)
      r.need(count * perSample, `${count} "trun" samples`)
      for (let i = 0; i < count; i++) {
        const duration = (trunFlags & SampleDurationPresent) !== 0 ? r.u32() : defaultDuration
        const size = (trunFlags & SampleSizePresent) !== 0 ? r.u32() : defaultSize
        const sampleFlags = (trunFlags & SampleFlagsPresent) !== 0
          ? r.u32()
          : i === 0 && firstFlags !== undefined
          ? firstFlags
          : defaultFlags
        // Version 0 offsets are unsigned by the spec; read as signed (FFmpeg does; writers put negative ones there)
        const cto = (trunFlags & SampleCompositionTimeOffsetsPresent) !== 0 ? r.i32() : 0
        if (dataAt < 0) r.fail(`track ${trackId}: sample data offset ${dataAt} before the start of the file`)
        if (track.output >= 0) {
          samples.push({
            output: track.output,
            offset: dataAt,
            size,
            dts,
            cto,
            sync: (sampleFlags & (NonSyncSample | DependsOnOthers)) === 0,
            entry: description - 1
          })
        }
        dataAt += size
        dts += duration
      }
    }
    track.nextDts = dts
    previousEnd = dataAt
  }
  samples.sort((a, b) => a.offset - b.offset)
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!
    if (a.offset + a.size > samples[i]!.offset) {
      throw new Mp4Error(`samples of the fragment overlap (at byte ${samples[i]!.offset})`, moofOffset)
    }
  }
  return samples
}
