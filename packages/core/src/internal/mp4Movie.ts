/**
 * The `moov` box of an MP4: its tracks, their codecs and configuration records, timescales, edit lists,
 * sample tables (kept as positions in the `moov` bytes, read lazily by `mp4Samples.ts`) and the fragment
 * defaults of `mvex`.
 *
 * Boxes read (ISO/IEC 14496-12 and -15, the AV1/VP/Opus/FLAC-in-ISOBMFF bindings):
 * `moov/mvhd`, `moov/trak/{tkhd, edts/elst, mdia/{mdhd, hdlr, minf/stbl/{stsd, stts, ctts, stss, stsc,
 * stsz|stz2, stco|co64}}}`, `moov/mvex/trex`; sample entries `avc1|avc3/avcC`, `hvc1|hev1/hvcC`,
 * `vvc1|vvi1/vvcC`, `av01/av1C`, `vp09|vp08/vpcC`, `mp4a/esds`, `Opus/dOps`, `fLaC/dfLa`, `ac-3`, `ec-3`,
 * `.mp3`.
 *
 * @internal
 */
import type { AudioCodec, VideoCodec } from "../MediaFrame.ts"
import { BoxReader, child, children, type ChildBox, Mp4Error, required } from "./mp4Box.ts"

/**
 * One sample description (an `stsd` entry): the codec and its configuration record (the `config: true`
 * frame's payload), or why it cannot be published.
 *
 * @internal
 */
export type SampleEntry =
  | {
    readonly format: string
    readonly codec: VideoCodec | AudioCodec
    /** The configuration record; `undefined` for codecs that have none (`mp3`, `ac3`, `eac3`). */
    readonly config: Uint8Array | undefined
    readonly unsupported?: undefined
  }
  | {
    readonly format: string
    readonly codec?: undefined
    readonly config?: undefined
    /** Why not: an unknown or unsupported codec, an encrypted track, a missing configuration box. */
    readonly unsupported: string
  }

/**
 * A table of fixed-size entries inside the `moov` bytes: `count` entries from index `at`.
 *
 * @internal
 */
export interface Table {
  readonly count: number
  readonly at: number
}

/**
 * A track's sample table, as positions into the `moov` bytes (`view`).
 *
 * @internal
 */
export interface SampleTable {
  readonly view: DataView
  /** Absolute file offset of `view`'s first byte, for errors. */
  readonly base: number
  readonly sampleCount: number
  /** `stts`: (sample_count u32, sample_delta u32). */
  readonly stts: Table
  /** `ctts`: (sample_count u32, sample_offset i32). Version 0 offsets are read as signed too, as FFmpeg does. */
  readonly ctts: Table | undefined
  /** `stss`: sample_number u32 (1-based), ascending. Absent: every sample is a sync sample. */
  readonly stss: Table | undefined
  /** `stsc`: (first_chunk u32, samples_per_chunk u32, sample_description_index u32). */
  readonly stsc: Table
  /** `stsz` with a constant size (`constantSize > 0`), or a table of `fieldBits`-bit sizes (`stsz`: 32, `stz2`: 4, 8, 16). */
  readonly constantSize: number
  readonly sizes: Table
  readonly fieldBits: number
  /** `stco` (32-bit) or `co64` (64-bit) chunk offsets. */
  readonly chunkOffsets: Table
  readonly wideOffsets: boolean
}

/**
 * Defaults for the samples of a track's fragments (`trex`).
 *
 * @internal
 */
export interface TrackDefaults {
  readonly sampleDescriptionIndex: number
  readonly sampleDuration: number
  readonly sampleSize: number
  readonly sampleFlags: number
}

/**
 * One `trak`.
 *
 * @internal
 */
export interface Track {
  readonly id: number
  /** `hdlr` handler type: `vide`, `soun`, `subt`, `text`, `tmcd`, `meta`, `hint`, ... */
  readonly handler: string
  readonly kind: "video" | "audio" | undefined
  /** `mdhd` timescale (ticks per second), > 0. */
  readonly timescale: number
  readonly entries: ReadonlyArray<SampleEntry>
  /**
   * The edit list, reduced to what is applied: leading empty edits (`media_time == -1`) delay the track
   * by `emptyMs`; the first media edit starts presentation at `mediaTime` (track ticks). Later edits are
   * not applied.
   */
  readonly mediaTime: number
  readonly emptyMs: number
  readonly table: SampleTable
  readonly defaults: TrackDefaults | undefined
  /** Absolute offset of the `trak` box, for errors. */
  readonly offset: number
}

/**
 * A parsed `moov`.
 *
 * @internal
 */
export interface Movie {
  /** `mvhd` timescale. */
  readonly timescale: number
  readonly tracks: ReadonlyArray<Track>
  /** An `mvex` box is present: the samples (or most of them) are in movie fragments (`moof`). */
  readonly fragmented: boolean
}

/** Parses a whole `moov` box body. `bytes` holds the box body; `base` is its absolute offset. */
export const parseMovie = (bytes: Uint8Array, base: number): Movie => {
  const moov = new BoxReader(bytes, base, "moov")
  const boxes = children(moov)
  const mvhd = required(moov, boxes, "mvhd").body
  const { version } = mvhd.fullBox()
  mvhd.skip(version === 1 ? 16 : 8)
  const timescale = mvhd.u32()
  if (timescale === 0) mvhd.fail("\"mvhd\" box with timescale 0")

  const mvex = child(boxes, "mvex")
  const defaults = new Map<number, TrackDefaults>()
  if (mvex !== undefined) {
    for (const trex of children(mvex.body)) {
      if (trex.type !== "trex") continue
      const r = trex.body
      r.fullBox()
      const trackId = r.u32()
      defaults.set(trackId, {
        sampleDescriptionIndex: r.u32(),
        sampleDuration: r.u32(),
        sampleSize: r.u32(),
        sampleFlags: r.u32()
      })
    }
  }

  const tracks: Array<Track> = []
  for (const trak of boxes) {
    if (trak.type !== "trak") continue
    const track = parseTrack(trak, timescale, defaults)
    if (tracks.some((t) => t.id === track.id)) {
      trak.body.fail(`two tracks with the same track_ID ${track.id}`, trak.start)
    }
    tracks.push(track)
  }
  return { timescale, tracks, fragmented: mvex !== undefined }
}

const parseTrack = (trak: ChildBox, movieTimescale: number, defaults: ReadonlyMap<number, TrackDefaults>): Track => {
  const boxes = children(trak.body)
  const tkhd = required(trak.body, boxes, "tkhd").body
  const { version: tkhdVersion } = tkhd.fullBox()
  tkhd.skip(tkhdVersion === 1 ? 16 : 8)
  const id = tkhd.u32()

  const mdiaBox = required(trak.body, boxes, "mdia")
  const mdia = children(mdiaBox.body)
  const mdhd = required(mdiaBox.body, mdia, "mdhd").body
  const { version: mdhdVersion } = mdhd.fullBox()
  mdhd.skip(mdhdVersion === 1 ? 16 : 8)
  const timescale = mdhd.u32()
  if (timescale === 0) mdhd.fail(`track ${id}: "mdhd" box with timescale 0`)
  const hdlr = required(mdiaBox.body, mdia, "hdlr").body
  hdlr.fullBox()
  hdlr.skip(4)
  const handler = hdlr.fourCc()
  const kind = handler === "vide" ? "video" : handler === "soun" ? "audio" : undefined

  const minfBox = required(mdiaBox.body, mdia, "minf")
  const stblBox = required(minfBox.body, children(minfBox.body), "stbl")
  const stbl = children(stblBox.body)
  const entries = parseSampleDescriptions(required(stblBox.body, stbl, "stsd").body, kind)
  const table = parseSampleTable(stblBox.body, stbl)

  let mediaTime = 0
  let emptyMs = 0
  const edts = child(boxes, "edts")
  const elst = edts === undefined ? undefined : child(children(edts.body), "elst")
  if (elst !== undefined) {
    const r = elst.body
    const { version } = r.fullBox()
    const count = r.u32()
    r.need(count * (version === 1 ? 20 : 12), `${count} edit list entries`)
    for (let i = 0; i < count; i++) {
      const segmentDuration = version === 1 ? r.u64() : r.u32()
      const time = version === 1 ? r.i64() : r.i32()
      r.skip(4) // media_rate
      if (time === -1) {
        emptyMs += (segmentDuration * 1000) / movieTimescale
        continue
      }
      if (time < 0) r.fail(`track ${id}: edit list media_time ${time}`)
      mediaTime = time
      break
    }
  }

  return { id, handler, kind, timescale, entries, mediaTime, emptyMs, table, defaults: defaults.get(id), offset: trak.body.base + trak.start }
}

// ---------------------------------------------------------------------------------------------------------
// Sample descriptions
// ---------------------------------------------------------------------------------------------------------

/** Bytes of a VisualSampleEntry / AudioSampleEntry (v0) before its child boxes, after the box header. */
const VisualSampleEntrySize = 78
const AudioSampleEntrySize = 28

const videoFormats: Readonly<Record<string, { readonly codec: VideoCodec; readonly box: string; readonly fullBox: boolean }>> = {
  avc1: { codec: "avc", box: "avcC", fullBox: false },
  avc3: { codec: "avc", box: "avcC", fullBox: false },
  hvc1: { codec: "hevc", box: "hvcC", fullBox: false },
  hev1: { codec: "hevc", box: "hvcC", fullBox: false },
  vvc1: { codec: "vvc", box: "vvcC", fullBox: true },
  vvi1: { codec: "vvc", box: "vvcC", fullBox: true },
  av01: { codec: "av1", box: "av1C", fullBox: false },
  vp09: { codec: "vp9", box: "vpcC", fullBox: true },
  vp08: { codec: "vp8", box: "vpcC", fullBox: true }
}

const videoFormatNames: Readonly<Record<string, string>> = {
  mp4v: "MPEG-4 Part 2",
  s263: "H.263",
  jpeg: "Motion JPEG",
  mjpa: "Motion JPEG",
  dvh1: "Dolby Vision",
  dvhe: "Dolby Vision",
  apch: "ProRes",
  apcn: "ProRes",
  encv: "encrypted video (CENC)"
}

const audioFormatNames: Readonly<Record<string, string>> = {
  alac: "ALAC",
  samr: "AMR-NB",
  sawb: "AMR-WB",
  lpcm: "PCM",
  sowt: "PCM",
  twos: "PCM",
  ipcm: "PCM",
  fpcm: "PCM",
  "dts+": "DTS",
  dtsc: "DTS",
  mha1: "MPEG-H",
  enca: "encrypted audio (CENC)"
}

const parseSampleDescriptions = (stsd: BoxReader, kind: "video" | "audio" | undefined): Array<SampleEntry> => {
  stsd.fullBox()
  const count = stsd.u32()
  const entries = children(stsd)
  if (entries.length < count) stsd.fail(`"stsd" box with ${entries.length} of its ${count} sample entries`)
  return entries.slice(0, count).map((entry) =>
    kind === "video" ? videoEntry(entry) : kind === "audio" ? audioEntry(entry) : { format: entry.type, unsupported: "not audio or video" }
  )
}

const videoEntry = (entry: ChildBox): SampleEntry => {
  const format = entry.type
  const known = videoFormats[format]
  if (known === undefined) {
    const name = videoFormatNames[format]
    return { format, unsupported: `unsupported video codec "${format}"${name === undefined ? "" : ` (${name})`}` }
  }
  const r = entry.body
  r.need(VisualSampleEntrySize, "a VisualSampleEntry")
  r.skip(VisualSampleEntrySize)
  const config = child(children(r), known.box)
  if (config === undefined) {
    return { format, unsupported: `"${format}" sample entry without its "${known.box}" configuration box` }
  }
  const body = config.body
  if (known.fullBox) body.need(4, "the FullBox header")
  return { format, codec: known.codec, config: body.bytes.subarray(body.pos + (known.fullBox ? 4 : 0), body.end) }
}

const audioEntry = (entry: ChildBox): SampleEntry => {
  const format = entry.type
  const r = entry.body
  r.need(AudioSampleEntrySize, "an AudioSampleEntry")
  // QuickTime sound descriptions: version 1 and 2 add fields before the child boxes
  const soundVersion = r.view.getUint16(r.pos + 8)
  const skip = AudioSampleEntrySize + (soundVersion === 1 ? 16 : soundVersion === 2 ? 36 : 0)
  const boxes = (): Array<ChildBox> => {
    r.skip(skip)
    return children(r)
  }
  switch (format) {
    case "mp4a":
      return mp4aEntry(format, boxes())
    case "Opus": {
      const dOps = child(boxes(), "dOps")
      if (dOps === undefined) return { format, unsupported: "\"Opus\" sample entry without its \"dOps\" box" }
      return { format, codec: "opus", config: opusHead(dOps.body) }
    }
    case "fLaC": {
      const dfLa = child(boxes(), "dfLa")
      if (dfLa === undefined) return { format, unsupported: "\"fLaC\" sample entry without its \"dfLa\" box" }
      const body = dfLa.body
      body.fullBox()
      const blocks = body.take(body.remaining)
      const config = new Uint8Array(4 + blocks.length)
      config.set([0x66, 0x4c, 0x61, 0x43]) // "fLaC"
      config.set(blocks, 4)
      return { format, codec: "flac", config }
    }
    case "ac-3":
      return { format, codec: "ac3", config: undefined }
    case "ec-3":
      return { format, codec: "eac3", config: undefined }
    case ".mp3":
      return { format, codec: "mp3", config: undefined }
    default: {
      const name = audioFormatNames[format]
      return { format, unsupported: `unsupported audio codec "${format}"${name === undefined ? "" : ` (${name})`}` }
    }
  }
}

/** MPEG-4 descriptor tags (ISO/IEC 14496-1). */
const ESDescrTag = 3
const DecoderConfigDescrTag = 4
const DecSpecificInfoTag = 5

/** `esds` objectTypeIndication values (MP4RA). */
const aacObjectTypes = new Set([0x40, 0x66, 0x67, 0x68])
const mp3ObjectTypes = new Set([0x69, 0x6b])

const mp4aEntry = (format: string, boxes: ReadonlyArray<ChildBox>): SampleEntry => {
  const esds = child(boxes, "esds")
  if (esds === undefined) return { format, unsupported: "\"mp4a\" sample entry without its \"esds\" box" }
  const r = esds.body
  r.fullBox()
  const es = descriptor(r, ESDescrTag)
  r.skip(2) // ES_ID
  const flags = r.u8()
  if ((flags & 0x80) !== 0) r.skip(2) // dependsOn_ES_ID
  if ((flags & 0x40) !== 0) r.skip(r.u8()) // URL
  if ((flags & 0x20) !== 0) r.skip(2) // OCR_ES_Id
  const decoderConfig = descriptor(r, DecoderConfigDescrTag, es)
  const objectType = r.u8()
  r.skip(12) // streamType, upStream, reserved, bufferSizeDB, maxBitrate, avgBitrate
  if (mp3ObjectTypes.has(objectType)) return { format, codec: "mp3", config: undefined }
  if (objectType === 0xa5) return { format, codec: "ac3", config: undefined }
  if (objectType === 0xa6) return { format, codec: "eac3", config: undefined }
  if (!aacObjectTypes.has(objectType)) {
    return { format, unsupported: `unsupported audio codec: "mp4a" with objectTypeIndication 0x${objectType.toString(16)}` }
  }
  if (r.pos >= decoderConfig) return { format, unsupported: "AAC track without an AudioSpecificConfig (DecoderSpecificInfo)" }
  const info = descriptor(r, DecSpecificInfoTag, decoderConfig)
  return { format, codec: "aac", config: r.take(info - r.pos) }
}

/**
 * Reads a descriptor header of the expected tag (skipping others up to `limit`) and returns the index
 * where its body ends; the cursor is left at its body.
 */
const descriptor = (r: BoxReader, tag: number, limit = r.end): number => {
  for (;;) {
    if (r.pos >= limit) r.fail(`"esds" box without its descriptor of tag ${tag}`)
    const found = r.u8()
    let size = 0
    for (let i = 0; i < 4; i++) {
      const b = r.u8()
      size = size * 128 + (b & 0x7f)
      if ((b & 0x80) === 0) break
    }
    const end = r.pos + size
    if (end > limit) r.fail(`"esds" descriptor of tag ${found} (${size} bytes) overruns its parent`)
    if (found === tag) return end
    r.pos = end
  }
}

/**
 * The Opus ID header (`OpusHead`, RFC 7845 5.1), what Enhanced RTMP sends as Opus's sequence start, from
 * an MP4 `dOps` box (Opus in ISOBMFF, 4.3.2): the same fields, big-endian there, little-endian here,
 * with the magic signature and version 1. This is also what FFmpeg makes of `dOps` (its extradata).
 */
const opusHead = (r: BoxReader): Uint8Array => {
  const version = r.u8()
  if (version !== 0) r.fail(`"dOps" box version ${version} (only 0 is defined)`, r.pos - 1)
  const channels = r.u8()
  const preSkip = r.u16()
  const inputSampleRate = r.u32()
  const outputGain = r.i16()
  const family = r.u8()
  const table = family === 0 ? new Uint8Array(0) : r.take(2 + channels)
  const out = new Uint8Array(19 + table.length)
  const view = new DataView(out.buffer)
  out.set([0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64]) // "OpusHead"
  out[8] = 1
  out[9] = channels
  view.setUint16(10, preSkip, true)
  view.setUint32(12, inputSampleRate, true)
  view.setInt16(16, outputGain, true)
  out[18] = family
  out.set(table, 19)
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Sample tables
// ---------------------------------------------------------------------------------------------------------

const table = (r: BoxReader, entrySize: number, name: string): Table => {
  r.fullBox()
  const count = r.u32()
  r.need(count * entrySize, `${count} ${name} entries`)
  return { count, at: r.pos }
}

const parseSampleTable = (stbl: BoxReader, boxes: ReadonlyArray<ChildBox>): SampleTable => {
  const stts = table(required(stbl, boxes, "stts").body, 8, "stts")
  const cttsBox = child(boxes, "ctts")
  const ctts = cttsBox === undefined ? undefined : table(cttsBox.body, 8, "ctts")
  const stssBox = child(boxes, "stss")
  const stss = stssBox === undefined ? undefined : table(stssBox.body, 4, "stss")
  const stsc = table(required(stbl, boxes, "stsc").body, 12, "stsc")

  let constantSize = 0
  let sizes: Table
  let fieldBits = 32
  let sampleCount: number
  const stsz = child(boxes, "stsz")
  if (stsz !== undefined) {
    const r = stsz.body
    r.fullBox()
    constantSize = r.u32()
    sampleCount = r.u32()
    if (constantSize === 0) r.need(sampleCount * 4, `${sampleCount} sample sizes`)
    sizes = { count: constantSize === 0 ? sampleCount : 0, at: r.pos }
  } else {
    const stz2 = child(boxes, "stz2")
    if (stz2 === undefined) stbl.fail("\"stbl\" box without its \"stsz\" or \"stz2\" box", stbl.end)
    const r = stz2.body
    r.fullBox()
    r.skip(3)
    fieldBits = r.u8()
    if (fieldBits !== 4 && fieldBits !== 8 && fieldBits !== 16) r.fail(`"stz2" box with field_size ${fieldBits}`)
    sampleCount = r.u32()
    r.need(Math.ceil((sampleCount * fieldBits) / 8), `${sampleCount} sample sizes`)
    sizes = { count: sampleCount, at: r.pos }
  }

  let chunkOffsets: Table
  let wideOffsets = false
  const stco = child(boxes, "stco")
  if (stco !== undefined) {
    chunkOffsets = table(stco.body, 4, "stco")
  } else {
    const co64 = child(boxes, "co64")
    if (co64 === undefined) stbl.fail("\"stbl\" box without its \"stco\" or \"co64\" box", stbl.end)
    chunkOffsets = table(co64.body, 8, "co64")
    wideOffsets = true
  }
  return {
    view: stbl.view,
    base: stbl.base,
    sampleCount,
    stts,
    ctts,
    stss,
    stsc,
    constantSize,
    sizes,
    fieldBits,
    chunkOffsets,
    wideOffsets
  }
}

// ---------------------------------------------------------------------------------------------------------
// Track selection
// ---------------------------------------------------------------------------------------------------------

/**
 * Which tracks to demux: `"default"` the first video and the first audio track; `"all"` every audio and
 * video track; or track ids (`tkhd` track_ID).
 *
 * @internal
 */
export type TrackSelection = "default" | "all" | ReadonlyArray<number>

/**
 * The tracks to demux, in `moov` order. Fails on an unknown id, a track that is neither audio nor video,
 * or a selected track with a codec that cannot be published.
 *
 * @internal
 */
export const selectTracks = (movie: Movie, selection: TrackSelection, moovOffset: number): ReadonlyArray<Track> => {
  const av = movie.tracks.filter((t) => t.kind !== undefined)
  let selected: ReadonlyArray<Track>
  if (selection === "all") {
    selected = av
  } else if (selection === "default") {
    selected = av.filter((t) => t === av.find((u) => u.kind === t.kind))
  } else {
    if (selection.length === 0) throw new Mp4Error("no track selected (an empty list of track ids)", moovOffset)
    for (const id of selection) {
      const track = movie.tracks.find((t) => t.id === id)
      if (track === undefined) {
        throw new Mp4Error(
          `no track with id ${id} (the file has ${movie.tracks.map((t) => `${t.id} (${t.handler})`).join(", ") || "none"})`,
          moovOffset
        )
      }
      if (track.kind === undefined) {
        throw new Mp4Error(`track ${id} is a "${track.handler}" track, not audio or video`, track.offset)
      }
    }
    selected = movie.tracks.filter((t) => selection.includes(t.id))
  }
  if (selected.length === 0) {
    throw new Mp4Error(
      movie.tracks.length === 0 ? "the MP4 has no tracks" : "the MP4 has no audio or video track",
      moovOffset
    )
  }
  for (const track of selected) {
    for (const entry of track.entries) {
      if (entry.unsupported !== undefined) throw new Mp4Error(`track ${track.id}: ${entry.unsupported}`, track.offset)
    }
    if (track.entries.length === 0) throw new Mp4Error(`track ${track.id} has no sample description`, track.offset)
  }
  return selected
}
