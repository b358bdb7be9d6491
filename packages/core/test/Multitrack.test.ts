/**
 * Multitrack through the Publisher: a session over the in-memory scripted server publishing one video
 * track (H.264, track 0) and two audio tracks (AAC on track 0, Opus on track 1: two languages, two
 * codecs). The audio and video message bodies the server received are compared byte for byte with vectors
 * written out here by hand from the field layouts of the specs, never with our muxer:
 *
 * - track 0 goes as legacy FLV bodies (E-RTMP v2: track 0 is the default track, which legacy players read):
 *   video `FrameType (UB4) | CodecID (UB4) = 7`, `AVCPacketType (UI8)`, `CompositionTime (SI24)`; audio
 *   `SoundFormat 10 | SoundRate 3 | SoundSize 1 | SoundType 1 = 0xAF`, `AACPacketType (UI8)`;
 * - track 1 goes as an Enhanced RTMP multitrack message (E-RTMP v2, "Enhanced Audio" / "Multitrack"):
 *   `SoundFormat (UB4) = 9 (ExHeader) | AudioPacketType (UB4) = 5 (Multitrack)`, then
 *   `AvMultitrackType (UB4) = 0 (OneTrack) | AudioPacketType (UB4)` (0 SequenceStart, 1 CodedFrames), then
 *   the `AudioFourCc (UI32)` "Opus", then `audioTrackId (UI8)`, then the track's body (no size field: OneTrack
 *   carries a single track): the OpusHead (RFC 7845 5.1) for SequenceStart, one Opus packet otherwise.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType } from "../src/Message.ts"
import * as Publisher from "../src/Publisher.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex")
const fromHex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))

const frame = (fields: Partial<MediaFrame> & Pick<MediaFrame, "kind" | "codec" | "dts" | "payload">): MediaFrame => ({
  cts: 0,
  keyframe: false,
  config: false,
  ...fields
})

/** AVCDecoderConfigurationRecord: version 1, Main profile (77), level 3.0, 4-byte lengths, no SPS/PPS. */
const avcC = "014d401effe000"
/** AudioSpecificConfig: AAC-LC (2), 48000 Hz (index 3), 2 channels: 00010 0011 0010 000 = 0x11 0x90. */
const asc = "1190"
/** OpusHead (RFC 7845 5.1): "OpusHead", version 1, 2 channels, pre-skip 312 (LE), 48000 Hz (LE), gain 0,
 * mapping family 0. */
const opusHead = "4f70757348656164" + "01" + "02" + "3801" + "80bb0000" + "0000" + "00"

const frames: ReadonlyArray<MediaFrame> = [
  frame({ kind: "video", codec: "avc", dts: 0, config: true, keyframe: true, payload: fromHex(avcC) }),
  frame({ kind: "audio", codec: "aac", dts: 0, config: true, payload: fromHex(asc) }),
  frame({ kind: "audio", codec: "opus", dts: 0, config: true, track: 1, payload: fromHex(opusHead) }),
  frame({ kind: "video", codec: "avc", dts: 0, keyframe: true, cts: 66, payload: fromHex("0000000265b8") }),
  frame({ kind: "audio", codec: "aac", dts: 0, payload: fromHex("211004") }),
  frame({ kind: "audio", codec: "opus", dts: 0, track: 1, payload: fromHex("fcff fe") }),
  frame({ kind: "audio", codec: "aac", dts: 21, payload: fromHex("2110") }),
  frame({ kind: "audio", codec: "opus", dts: 20, track: 1, payload: fromHex("fc") }),
  frame({ kind: "video", codec: "avc", dts: 33, cts: -33, payload: fromHex("00000002419a") })
]

/** Each frame's message as [type, timestamp, body hex], written out by hand from the layouts above. */
const expected: ReadonlyArray<readonly [number, number, string]> = [
  // video: FrameType 1 (key) << 4 | CodecID 7, AVCPacketType 0 (sequence header), CompositionTime 0
  [9, 0, "17" + "00" + "000000" + avcC],
  // audio, legacy AAC: 0xAF, AACPacketType 0 (sequence header)
  [8, 0, "af" + "00" + asc],
  // audio, track 1: 9 << 4 | 5 (Multitrack), OneTrack << 4 | 0 (SequenceStart), "Opus", track id 1
  [8, 0, "95" + "00" + "4f707573" + "01" + opusHead],
  // video: keyframe, AVCPacketType 1 (NALU), CompositionTime 66 = 0x000042
  [9, 0, "17" + "01" + "000042" + "0000000265b8"],
  // audio, legacy AAC: 0xAF, AACPacketType 1 (raw)
  [8, 0, "af" + "01" + "211004"],
  // audio, track 1: Multitrack, OneTrack << 4 | 1 (CodedFrames), "Opus", track id 1, the packet
  [8, 0, "95" + "01" + "4f707573" + "01" + "fcfffe"],
  [8, 21, "af" + "01" + "2110"],
  [8, 20, "95" + "01" + "4f707573" + "01" + "fc"],
  // video: FrameType 2 (inter) << 4 | 7, NALU, CompositionTime -33 = 0xffffdf (two's complement SI24)
  [9, 33, "27" + "01" + "ffffdf" + "00000002419a"]
]

describe("Publisher, multitrack (one video track, two audio tracks)", () => {
  it.effect("sends track 0 as legacy FLV bodies and track 1 as OneTrack multitrack messages, byte for byte", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      const stats = yield* Publisher.publish("rtmp://host/live/key", Stream.fromIterable(frames)).pipe(
        Effect.provide(server.layer),
        Effect.ensuring(server.settled)
      )
      const media = server.messages().filter((m) => m.typeId === MessageType.Audio || m.typeId === MessageType.Video)
      assert.deepStrictEqual(
        media.map((m) => [m.typeId, m.timestamp, hex(m.payload)]),
        expected.map(([type, timestamp, body]) => [type, timestamp, body])
      )
      assert.isTrue(media.every((m) => m.streamId === 1))
      // Every frame went out in one session, with the onMetaData the publisher adds in front
      assert.strictEqual(server.connections(), 1)
      assert.strictEqual(stats.frames, frames.length + 1)
      const names = server.messages().filter((m) => m.command !== undefined).map((m) => m.command)
      assert.deepStrictEqual(names.slice(-2), ["FCUnpublish", "deleteStream"])
      const metadata = server.messages().filter((m) => m.typeId === MessageType.DataAmf0)
      assert.strictEqual(metadata.length, 1)
      assert.strictEqual(metadata[0]!.amf?.[0], "@setDataFrame")
    }))

  it.effect("an AAC second language (track 1) goes by its FourCC mp4a, an AAC frame per OneTrack message", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make()
      yield* Publisher.publish(
        "rtmp://host/live/key",
        Stream.fromIterable([
          frame({ kind: "audio", codec: "aac", dts: 0, config: true, payload: fromHex(asc) }),
          frame({ kind: "audio", codec: "aac", dts: 0, config: true, track: 1, payload: fromHex("1210") }),
          frame({ kind: "audio", codec: "aac", dts: 0, payload: fromHex("2110") }),
          frame({ kind: "audio", codec: "aac", dts: 0, track: 1, payload: fromHex("0102") })
        ]),
        { metadata: false }
      ).pipe(Effect.provide(server.layer), Effect.ensuring(server.settled))
      const audio = server.messages().filter((m) => m.typeId === MessageType.Audio).map((m) => hex(m.payload))
      // "mp4a" = 6d 70 34 61; the track 1 AudioSpecificConfig 0x1210 is AAC-LC 44100 Hz stereo
      assert.deepStrictEqual(audio, [
        "af00" + asc,
        "95" + "00" + "6d703461" + "01" + "1210",
        "af01" + "2110",
        "95" + "01" + "6d703461" + "01" + "0102"
      ])
    }))
})
