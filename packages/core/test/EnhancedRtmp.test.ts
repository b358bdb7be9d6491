import { assert, describe, it } from "@effect/vitest"
import * as EnhancedRtmp from "../src/EnhancedRtmp.ts"

describe("EnhancedRtmp", () => {
  it("FourCCs of the spec, both ways", () => {
    assert.deepStrictEqual(EnhancedRtmp.videoFourCc, {
      avc: "avc1",
      hevc: "hvc1",
      vvc: "vvc1",
      av1: "av01",
      vp9: "vp09",
      vp8: "vp08"
    })
    assert.deepStrictEqual(EnhancedRtmp.audioFourCc, {
      aac: "mp4a",
      opus: "Opus",
      flac: "fLaC",
      ac3: "ac-3",
      eac3: "ec-3",
      mp3: ".mp3"
    })
    for (const [codec, fourCc] of Object.entries(EnhancedRtmp.videoFourCc)) {
      assert.strictEqual(EnhancedRtmp.videoCodecOf(fourCc), codec)
      assert.strictEqual(EnhancedRtmp.audioCodecOf(fourCc), undefined)
    }
    for (const [codec, fourCc] of Object.entries(EnhancedRtmp.audioFourCc)) {
      assert.strictEqual(EnhancedRtmp.audioCodecOf(fourCc), codec)
      assert.strictEqual(EnhancedRtmp.videoCodecOf(fourCc), undefined)
    }
    // Case matters: "Opus" and "fLaC" are mixed case, "hev1" is not an Enhanced RTMP FourCC
    assert.strictEqual(EnhancedRtmp.audioCodecOf("opus"), undefined)
    assert.strictEqual(EnhancedRtmp.videoCodecOf("hev1"), undefined)
    assert.strictEqual(EnhancedRtmp.videoCodecOf("toString"), undefined)
  })

  it("fourCcValue: the numbers the spec gives for onMetaData", () => {
    assert.strictEqual(EnhancedRtmp.fourCcValue("Opus"), 0x4f707573)
    assert.strictEqual(EnhancedRtmp.fourCcValue("Opus"), 1332770163)
    assert.strictEqual(EnhancedRtmp.fourCcValue("av01"), 1635135537)
    assert.strictEqual(EnhancedRtmp.fourCcValue("hvc1"), 0x68766331)
  })

  it("packet types, multitrack types and header markers have the spec's values", () => {
    assert.deepStrictEqual(EnhancedRtmp.VideoPacketType, {
      SequenceStart: 0,
      CodedFrames: 1,
      SequenceEnd: 2,
      CodedFramesX: 3,
      Metadata: 4,
      MPEG2TSSequenceStart: 5,
      Multitrack: 6,
      ModEx: 7
    })
    assert.deepStrictEqual(EnhancedRtmp.AudioPacketType, {
      SequenceStart: 0,
      CodedFrames: 1,
      SequenceEnd: 2,
      MultichannelConfig: 4,
      Multitrack: 5,
      ModEx: 7
    })
    assert.deepStrictEqual(EnhancedRtmp.AvMultitrackType, { OneTrack: 0, ManyTracks: 1, ManyTracksManyCodecs: 2 })
    assert.strictEqual(EnhancedRtmp.PacketModExType.TimestampOffsetNano, 0)
    assert.strictEqual(EnhancedRtmp.IsExVideoHeader, 0x80)
    assert.strictEqual(EnhancedRtmp.ExHeaderSoundFormat, 9)
    assert.strictEqual(EnhancedRtmp.VideoFrameType.Command, 5)
  })

  it("only avc, hevc and vvc carry a composition time", () => {
    assert.deepStrictEqual(
      ["avc", "hevc", "vvc", "av1", "vp9", "vp8", "opus"].filter(EnhancedRtmp.hasCompositionTime),
      ["avc", "hevc", "vvc"]
    )
  })
})
