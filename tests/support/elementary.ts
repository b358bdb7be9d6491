/**
 * Elementary streams from the frames of a recording, in forms ffmpeg 5.1 reads (it cannot read Enhanced
 * FLV): HEVC as Annex B, AV1 and VP9 in IVF. And the frame checksums of what ffmpeg decodes
 * (`-f framemd5` after decoding), to compare a recording with its source picture by picture.
 *
 * The frames come from the project's own `FlvDemuxer` (it reads Enhanced FLV); these writers are the
 * test's own.
 */
import * as fs from "node:fs/promises"
import { runProcess } from "./process.ts"

/** A coded frame or configuration record, as far as these writers need one. */
export interface ElementaryFrame {
  readonly dts: number
  readonly cts: number
  readonly config: boolean
  readonly payload: Uint8Array
}

const startCode = Uint8Array.of(0, 0, 0, 1)

/**
 * HEVC Annex B (`ffmpeg -f hevc`): the VPS, SPS, PPS and SEI NAL units of the first
 * HEVCDecoderConfigurationRecord (`hvcC`), then every coded frame with its length prefixes (of the
 * record's `lengthSizeMinusOne + 1` bytes) replaced by start codes.
 */
export const hevcAnnexB = (frames: ReadonlyArray<ElementaryFrame>): Uint8Array => {
  const config = frames.find((f) => f.config)
  if (config === undefined) throw new Error("hevcAnnexB: no HEVC decoder configuration record")
  const hvcC = config.payload
  const lengthSize = (hvcC[21]! & 3) + 1
  const out: Array<Uint8Array> = []
  let at = 23
  for (let a = 0; a < hvcC[22]!; a++) {
    const count = (hvcC[at + 1]! << 8) | hvcC[at + 2]!
    at += 3
    for (let n = 0; n < count; n++) {
      const length = (hvcC[at]! << 8) | hvcC[at + 1]!
      out.push(startCode, hvcC.subarray(at + 2, at + 2 + length))
      at += 2 + length
    }
  }
  for (const frame of frames) {
    if (frame.config) continue
    const p = frame.payload
    let i = 0
    while (i < p.length) {
      let length = 0
      for (let k = 0; k < lengthSize; k++) length = length * 256 + p[i + k]!
      i += lengthSize
      if (length === 0 || i + length > p.length) throw new Error(`hevcAnnexB: bad NAL length ${length} at ${i}`)
      out.push(startCode, p.subarray(i, i + length))
      i += length
    }
  }
  return Buffer.concat(out)
}

/** The OBU types of a temporal unit in the low overhead bitstream format (each OBU with its size). */
export const obuTypes = (tu: Uint8Array): Array<number> => {
  const types: Array<number> = []
  let at = 0
  while (at < tu.length) {
    const header = tu[at]!
    types.push((header >> 3) & 0x0f)
    at += 1 + ((header >> 2) & 1)
    let size = 0
    for (let i = 0; i < 8; i++) {
      const byte = tu[at++]!
      size += (byte & 0x7f) * 2 ** (7 * i)
      if ((byte & 0x80) === 0) break
    }
    at += size
  }
  return types
}

/**
 * IVF (`DKIF`): a 32-byte header (FourCC, size, time base 1/1000) and each coded frame with its size
 * and pts (ms). For AV1, the AV1CodecConfigurationRecord's configOBUs (the sequence header) go before
 * the first temporal unit when it carries no sequence header OBU itself.
 */
export const ivf = (
  fourCc: "VP90" | "AV01",
  size: { readonly width: number; readonly height: number },
  frames: ReadonlyArray<ElementaryFrame>
): Uint8Array => {
  const coded = frames.filter((f) => !f.config)
  const header = Buffer.alloc(32)
  header.write("DKIF", 0, "latin1")
  header.writeUInt16LE(0, 4)
  header.writeUInt16LE(32, 6)
  header.write(fourCc, 8, "latin1")
  header.writeUInt16LE(size.width, 12)
  header.writeUInt16LE(size.height, 14)
  header.writeUInt32LE(1000, 16)
  header.writeUInt32LE(1, 20)
  header.writeUInt32LE(coded.length, 24)
  const out: Array<Uint8Array> = [header]
  coded.forEach((frame, i) => {
    let data = frame.payload
    if (i === 0 && fourCc === "AV01" && !obuTypes(data).includes(1)) {
      const config = frames.find((f) => f.config)
      if (config !== undefined) data = Buffer.concat([config.payload.subarray(4), data])
    }
    const frameHeader = Buffer.alloc(12)
    frameHeader.writeUInt32LE(data.length, 0)
    frameHeader.writeBigUInt64LE(BigInt(frame.dts + frame.cts), 4)
    out.push(frameHeader, data)
  })
  return Buffer.concat(out)
}

/** What ffmpeg decoded: one MD5 per decoded frame, in output order, and what it logged at level error. */
export interface Decoded {
  readonly md5s: ReadonlyArray<string>
  readonly errors: string
  readonly code: number | null
}

/**
 * Decodes the first stream of `kind` of a file with ffmpeg and returns the MD5 of each decoded frame
 * (`-f framemd5`, no `-c copy`; frames neither dropped nor duplicated: `-fps_mode passthrough`).
 * `format` forces the input format (`hevc`, `ivf`, ...).
 */
export const decodedFrameMd5s = async (file: string, kind: "v" | "a", format?: string): Promise<Decoded> => {
  const run = await runProcess("ffmpeg", [
    "-hide_banner", "-nostdin", "-loglevel", "error",
    ...(format === undefined ? [] : ["-f", format]),
    "-i", file, "-map", `0:${kind}:0`, ...(kind === "v" ? ["-fps_mode", "passthrough"] : []),
    "-f", "framemd5", "-"
  ], { timeoutMs: 60_000 })
  const md5s = run.stdout.split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => line.split(",").map((f) => f.trim())[5]!)
  return { md5s, errors: run.stderr, code: run.code }
}

/** Writes bytes to a file and returns its path. */
export const writeFile = async (file: string, bytes: Uint8Array): Promise<string> => {
  await fs.writeFile(file, bytes)
  return file
}
