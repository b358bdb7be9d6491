/**
 * What `onMetaData` says about a track, read cheaply from its configuration record or first coded frame:
 * picture size (AVC and HEVC SPS, AV1 sequence header, VP9/VP8 key frame header), sample rate, channel
 * count and sample size (AAC AudioSpecificConfig, OpusHead, FLAC STREAMINFO, MP3 frame header). Each
 * reader returns `undefined` on anything it does not understand: the metadata then leaves the field out.
 *
 * @internal
 */

/** A picture size. */
export interface VideoInfo {
  readonly width: number
  readonly height: number
}

/** What an audio configuration tells. */
export interface AudioInfo {
  readonly sampleRate?: number | undefined
  readonly channels?: number | undefined
  readonly sampleSize?: number | undefined
}

/** Reads bits MSB first; past the end it throws `RangeError` (callers catch it as "unknown"). */
class BitReader {
  private pos = 0
  private readonly bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    this.bytes = bytes
  }

  bit(): number {
    const byte = this.bytes[this.pos >> 3]
    if (byte === undefined) throw new RangeError("end of data")
    const out = (byte >> (7 - (this.pos & 7))) & 1
    this.pos++
    return out
  }

  bits(n: number): number {
    let out = 0
    for (let i = 0; i < n; i++) out = out * 2 + this.bit()
    return out
  }

  skip(n: number): void {
    for (let i = 0; i < n; i++) this.bit()
  }

  /** Exp-Golomb ue(v). */
  ue(): number {
    let zeros = 0
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError("ue(v) too long")
    }
    return 2 ** zeros - 1 + this.bits(zeros)
  }

  /** Exp-Golomb se(v). */
  se(): number {
    const k = this.ue()
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2)
  }

  /** AV1 uvlc(). */
  uvlc(): number {
    let zeros = 0
    while (this.bit() === 0) zeros++
    return zeros >= 32 ? 2 ** 32 - 1 : this.bits(zeros) + 2 ** zeros - 1
  }
}

const guard = <A>(f: () => A | undefined): A | undefined => {
  try {
    return f()
  } catch (error) {
    if (error instanceof RangeError) return undefined
    throw error
  }
}

/** A NAL unit's RBSP: the emulation prevention bytes (`00 00 03`) removed. */
const rbsp = (nal: Uint8Array): Uint8Array => {
  const out = new Uint8Array(nal.length)
  let n = 0
  let zeros = 0
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0
      continue
    }
    zeros = byte === 0 ? zeros + 1 : 0
    out[n++] = byte
  }
  return out.subarray(0, n)
}

const avcHighProfiles = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135])

/** The picture size of an AVCDecoderConfigurationRecord's first SPS (H.264 7.3.2.1.1). */
export const avcVideoInfo = (avcC: Uint8Array): VideoInfo | undefined =>
  guard(() => {
    if (avcC.length < 8 || (avcC[5]! & 0x1f) === 0) return undefined
    const length = (avcC[6]! << 8) | avcC[7]!
    const r = new BitReader(rbsp(avcC.subarray(9, 8 + length)))
    const profile = r.bits(8)
    r.skip(16) // constraint flags, level
    r.ue() // seq_parameter_set_id
    let chroma = 1
    let separatePlanes = 0
    if (avcHighProfiles.has(profile)) {
      chroma = r.ue()
      if (chroma === 3) separatePlanes = r.bit()
      r.ue() // bit_depth_luma_minus8
      r.ue() // bit_depth_chroma_minus8
      r.skip(1) // qpprime_y_zero_transform_bypass_flag
      if (r.bit() === 1) {
        for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
          if (r.bit() === 1) {
            let last = 8
            let next = 8
            for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
              if (next !== 0) next = (last + r.se() + 256) % 256
              last = next === 0 ? last : next
            }
          }
        }
      }
    }
    r.ue() // log2_max_frame_num_minus4
    const pocType = r.ue()
    if (pocType === 0) {
      r.ue()
    } else if (pocType === 1) {
      r.skip(1)
      r.se()
      r.se()
      const cycle = r.ue()
      for (let i = 0; i < cycle; i++) r.se()
    }
    r.ue() // max_num_ref_frames
    r.skip(1) // gaps_in_frame_num_value_allowed_flag
    const widthInMbs = r.ue() + 1
    const heightInMapUnits = r.ue() + 1
    const frameMbsOnly = r.bit()
    if (frameMbsOnly === 0) r.skip(1)
    r.skip(1) // direct_8x8_inference_flag
    let crop = [0, 0, 0, 0]
    if (r.bit() === 1) crop = [r.ue(), r.ue(), r.ue(), r.ue()]
    const arrayType = separatePlanes === 1 ? 0 : chroma
    const cropX = arrayType === 0 ? 1 : arrayType === 3 ? 1 : 2
    const cropY = (arrayType === 1 ? 2 : 1) * (2 - frameMbsOnly)
    return {
      width: widthInMbs * 16 - cropX * (crop[0]! + crop[1]!),
      height: (2 - frameMbsOnly) * heightInMapUnits * 16 - cropY * (crop[2]! + crop[3]!)
    }
  })

/** The picture size of an HEVCDecoderConfigurationRecord's SPS (H.265 7.3.2.2). */
export const hevcVideoInfo = (hvcC: Uint8Array): VideoInfo | undefined =>
  guard(() => {
    let at = 23
    const arrays = hvcC[22] ?? 0
    let sps: Uint8Array | undefined
    for (let a = 0; a < arrays && sps === undefined; a++) {
      const type = hvcC[at]! & 0x3f
      const count = (hvcC[at + 1]! << 8) | hvcC[at + 2]!
      at += 3
      for (let n = 0; n < count; n++) {
        const length = (hvcC[at]! << 8) | hvcC[at + 1]!
        if (type === 33 && sps === undefined) sps = hvcC.subarray(at + 2, at + 2 + length)
        at += 2 + length
      }
    }
    if (sps === undefined) return undefined
    const r = new BitReader(rbsp(sps.subarray(2)))
    r.skip(4) // sps_video_parameter_set_id
    const maxSubLayersMinus1 = r.bits(3)
    r.skip(1)
    r.skip(96) // general profile, tier, level
    const profilePresent: Array<number> = []
    const levelPresent: Array<number> = []
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      profilePresent.push(r.bit())
      levelPresent.push(r.bit())
    }
    if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1))
    for (let i = 0; i < maxSubLayersMinus1; i++) {
      if (profilePresent[i] === 1) r.skip(88)
      if (levelPresent[i] === 1) r.skip(8)
    }
    r.ue() // sps_seq_parameter_set_id
    const chroma = r.ue()
    const separatePlanes = chroma === 3 ? r.bit() : 0
    const width = r.ue()
    const height = r.ue()
    let crop = [0, 0, 0, 0]
    if (r.bit() === 1) crop = [r.ue(), r.ue(), r.ue(), r.ue()]
    const arrayType = separatePlanes === 1 ? 0 : chroma
    const subWidth = arrayType === 1 || arrayType === 2 ? 2 : 1
    const subHeight = arrayType === 1 ? 2 : 1
    return {
      width: width - subWidth * (crop[0]! + crop[1]!),
      height: height - subHeight * (crop[2]! + crop[3]!)
    }
  })

/**
 * The picture size of the sequence header OBU in an AV1CodecConfigurationRecord's configOBUs, or in a
 * temporal unit (AV1 5.5).
 */
export const av1VideoInfo = (obus: Uint8Array): VideoInfo | undefined =>
  guard(() => {
    let at = 0
    while (at < obus.length) {
      const header = obus[at]!
      const type = (header >> 3) & 0x0f
      const extension = (header >> 2) & 1
      const hasSize = (header >> 1) & 1
      at += 1 + extension
      let size = obus.length - at
      if (hasSize === 1) {
        size = 0
        for (let i = 0; i < 8; i++) {
          const byte = obus[at++]
          if (byte === undefined) return undefined
          size += (byte & 0x7f) * 2 ** (7 * i)
          if ((byte & 0x80) === 0) break
        }
      }
      if (type === 1) return av1SequenceHeader(new BitReader(obus.subarray(at, at + size)))
      at += size
    }
    return undefined
  })

const av1SequenceHeader = (r: BitReader): VideoInfo => {
  r.skip(4) // seq_profile, still_picture
  const reduced = r.bit()
  if (reduced === 1) {
    r.skip(5)
  } else {
    let decoderModelInfo = 0
    let bufferDelayLength = 0
    if (r.bit() === 1) { // timing_info_present_flag
      r.skip(64)
      if (r.bit() === 1) r.uvlc()
      decoderModelInfo = r.bit()
      if (decoderModelInfo === 1) {
        bufferDelayLength = r.bits(5) + 1
        r.skip(32 + 5 + 5)
      }
    }
    const initialDisplayDelay = r.bit()
    const operatingPoints = r.bits(5) + 1
    for (let i = 0; i < operatingPoints; i++) {
      r.skip(12)
      if (r.bits(5) > 7) r.skip(1)
      if (decoderModelInfo === 1 && r.bit() === 1) r.skip(2 * bufferDelayLength + 1)
      if (initialDisplayDelay === 1 && r.bit() === 1) r.skip(4)
    }
  }
  const widthBits = r.bits(4) + 1
  const heightBits = r.bits(4) + 1
  return { width: r.bits(widthBits) + 1, height: r.bits(heightBits) + 1 }
}

/** The picture size of a VP9 key frame's uncompressed header (VP9 6.2); `undefined` for other frames. */
export const vp9VideoInfo = (frame: Uint8Array): VideoInfo | undefined =>
  guard(() => {
    const r = new BitReader(frame)
    if (r.bits(2) !== 2) return undefined
    const low = r.bit()
    const profile = (r.bit() << 1) | low
    if (profile === 3) r.skip(1)
    if (r.bit() === 1) return undefined // show_existing_frame
    if (r.bit() !== 0) return undefined // not a key frame
    r.skip(2) // show_frame, error_resilient_mode
    if (r.bits(24) !== 0x498342) return undefined
    if (profile >= 2) r.skip(1)
    const colorSpace = r.bits(3)
    if (colorSpace !== 7) {
      r.skip(1)
      if (profile === 1 || profile === 3) r.skip(3)
    } else if (profile === 1 || profile === 3) {
      r.skip(1)
    }
    return { width: r.bits(16) + 1, height: r.bits(16) + 1 }
  })

/** The picture size of a VP8 key frame (RFC 6386 9.1); `undefined` for other frames. */
export const vp8VideoInfo = (frame: Uint8Array): VideoInfo | undefined => {
  if (frame.length < 10 || (frame[0]! & 1) !== 0) return undefined
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return undefined
  return { width: ((frame[7]! << 8) | frame[6]!) & 0x3fff, height: ((frame[9]! << 8) | frame[8]!) & 0x3fff }
}

const aacRates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]

/** Sample rate and channels of an AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1). */
export const aacAudioInfo = (asc: Uint8Array): AudioInfo | undefined =>
  guard(() => {
    const r = new BitReader(asc)
    if (r.bits(5) === 31) r.skip(6)
    const index = r.bits(4)
    const sampleRate = index === 15 ? r.bits(24) : aacRates[index]
    const config = r.bits(4)
    const channels = config >= 1 && config <= 6 ? config : config === 7 ? 8 : undefined
    return { sampleRate, channels, sampleSize: 16 }
  })

/** Channels of an `OpusHead`; Opus always decodes at 48 kHz. */
export const opusAudioInfo = (head: Uint8Array): AudioInfo | undefined =>
  head.length >= 19 && new TextDecoder().decode(head.subarray(0, 8)) === "OpusHead"
    ? { sampleRate: 48000, channels: head[9], sampleSize: 16 }
    : undefined

/** Sample rate, channels and bits per sample of a FLAC config (`"fLaC"` + STREAMINFO block). */
export const flacAudioInfo = (config: Uint8Array): AudioInfo | undefined =>
  guard(() => {
    if (config.length < 8 + 18 || (config[4]! & 0x7f) !== 0) return undefined
    const r = new BitReader(config.subarray(8 + 10))
    return { sampleRate: r.bits(20), channels: r.bits(3) + 1, sampleSize: r.bits(5) + 1 }
  })

const mp3Rates: Readonly<Record<number, ReadonlyArray<number>>> = {
  3: [44100, 48000, 32000], // MPEG-1
  2: [22050, 24000, 16000], // MPEG-2
  0: [11025, 12000, 8000] // MPEG-2.5
}

/** Sample rate and channels of the first MP3 frame header of a frame. */
export const mp3AudioInfo = (frame: Uint8Array): AudioInfo | undefined => {
  if (frame.length < 4 || frame[0] !== 0xff || (frame[1]! & 0xe0) !== 0xe0) return undefined
  const sampleRate = mp3Rates[(frame[1]! >> 3) & 3]?.[(frame[2]! >> 2) & 3]
  if (sampleRate === undefined) return undefined
  return { sampleRate, channels: (frame[3]! >> 6) === 3 ? 1 : 2, sampleSize: 16 }
}
