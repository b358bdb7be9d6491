import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as FlvDemuxer from "../src/FlvDemuxer.ts"
import * as FlvMuxer from "../src/FlvMuxer.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import { MessageType, payloadLength, type RtmpMessage } from "../src/Message.ts"
import { makeFlv, rawTags } from "./flvFixtures.ts"

const setDataFrame = Uint8Array.from([0x02, 0x00, 0x0d, ...new TextEncoder().encode("@setDataFrame")])

const concat = (payload: RtmpMessage["payload"]): Uint8Array =>
  payload instanceof Uint8Array ? payload : Buffer.concat(payload.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length)))

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex")

const frame = (fields: Partial<MediaFrame> & Pick<MediaFrame, "kind" | "codec">): MediaFrame => ({
  dts: 0,
  cts: 0,
  keyframe: false,
  config: false,
  payload: new Uint8Array([1, 2, 3]),
  ...fields
})

let files: ReadonlyArray<Uint8Array>

beforeAll(() => {
  files = [
    makeFlv("mux-plain", { seconds: 2 }),
    makeFlv("mux-offset", { seconds: 1, outputTsOffset: 16777 })
  ].map((file) => new Uint8Array(fs.readFileSync(file)))
})

describe("FlvMuxer", () => {
  it.effect("mux(demux(file)) reproduces every tag body of an ffmpeg FLV, byte for byte", () =>
    Effect.gen(function*() {
      for (const bytes of files) {
        const frames = yield* Stream.runCollect(Stream.make(bytes).pipe(FlvDemuxer.demux("test.flv")))
        // Every tag is a frame, in order, the AVC end-of-sequence tag included
        const tags = rawTags(bytes)
        assert.strictEqual(frames.length, tags.length)
        frames.forEach((f, i) => {
          const tag = tags[i]!
          const message = FlvMuxer.toMessage(f, 1)
          assert.strictEqual(message.typeId, tag.type, `tag ${i} type`)
          assert.strictEqual(message.timestamp, tag.timestamp, `tag ${i} timestamp`)
          assert.strictEqual(message.streamId, 1)
          let body = concat(message.payload)
          if (tag.type === 18) {
            assert.strictEqual(hex(body.subarray(0, setDataFrame.length)), hex(setDataFrame))
            body = body.subarray(setDataFrame.length)
          }
          assert.strictEqual(payloadLength(message.payload), body.length + (tag.type === 18 ? setDataFrame.length : 0))
          assert.isTrue(hex(body) === hex(tag.body), `tag ${i} (type ${tag.type}) body`)
        })
      }
    }))

  it("the payload goes out as its own piece, not copied", () => {
    const payload = new Uint8Array(1000)
    for (const f of [
      frame({ kind: "video", codec: "avc", payload }),
      frame({ kind: "audio", codec: "aac", payload }),
      frame({ kind: "audio", codec: "mp3", payload }),
      frame({ kind: "data", codec: "amf0", payload: Uint8Array.from([2, 0, 10, ...new TextEncoder().encode("onMetaData")]) })
    ]) {
      const message = FlvMuxer.toMessage(f, 1)
      assert.isTrue(Array.isArray(message.payload))
      const pieces = message.payload as ReadonlyArray<Uint8Array>
      assert.strictEqual(pieces.at(-1), f.payload)
    }
  })

  it("video: frame type, AVCPacketType and a signed 24-bit composition time", () => {
    const key = FlvMuxer.toMessage(frame({ kind: "video", codec: "avc", keyframe: true, cts: 67, dts: 5 }), 3)
    assert.deepInclude(key, { typeId: MessageType.Video, streamId: 3, timestamp: 5 })
    assert.strictEqual(hex((key.payload as ReadonlyArray<Uint8Array>)[0]!), "1701000043")
    const inter = FlvMuxer.toMessage(frame({ kind: "video", codec: "avc", cts: -2 }), 1)
    assert.strictEqual(hex((inter.payload as ReadonlyArray<Uint8Array>)[0]!), "2701fffffe")
    const config = FlvMuxer.toMessage(frame({ kind: "video", codec: "avc", config: true }), 1)
    assert.strictEqual(hex((config.payload as ReadonlyArray<Uint8Array>)[0]!), "1700000000")
    const end = FlvMuxer.toMessage(frame({ kind: "video", codec: "avc", endOfSequence: true, payload: new Uint8Array(0) }), 1)
    assert.strictEqual(hex((end.payload as ReadonlyArray<Uint8Array>)[0]!), "1702000000")
    assert.throws(() => FlvMuxer.toMessage(frame({ kind: "video", codec: "h263" }), 1), /"h263" has no Enhanced RTMP FourCC/)
  })

  it("audio: the original header byte, or one derived from the codec", () => {
    const header = (f: MediaFrame) => hex((FlvMuxer.toMessage(f, 1).payload as ReadonlyArray<Uint8Array>)[0]!)
    assert.strictEqual(header(frame({ kind: "audio", codec: "aac", config: true })), "af00")
    assert.strictEqual(header(frame({ kind: "audio", codec: "aac" })), "af01")
    assert.strictEqual(header(frame({ kind: "audio", codec: "aac", audioFlags: 0xae })), "ae01")
    assert.strictEqual(header(frame({ kind: "audio", codec: "mp3", audioFlags: 0x2e })), "2e")
    assert.strictEqual(header(frame({ kind: "audio", codec: "mp3" })), "2f")
    assert.strictEqual(FlvMuxer.toMessage(frame({ kind: "audio", codec: "aac" }), 1).typeId, MessageType.Audio)
    assert.throws(() => FlvMuxer.toMessage(frame({ kind: "audio", codec: "vorbis" }), 1), /audioFlags/)
    assert.strictEqual(header(frame({ kind: "audio", codec: "vorbis", audioFlags: 0x9f })), "9f")
  })

  it("data: onMetaData gets @setDataFrame in front; other data goes as it is", () => {
    const meta = Uint8Array.from([2, 0, 10, ...new TextEncoder().encode("onMetaData"), 8, 0, 0, 0, 0, 0, 0, 9])
    const message = FlvMuxer.toMessage(frame({ kind: "data", codec: "amf0", payload: meta, dts: 7 }), 1)
    assert.deepInclude(message, { typeId: MessageType.DataAmf0, timestamp: 7 })
    const pieces = message.payload as ReadonlyArray<Uint8Array>
    assert.strictEqual(hex(pieces[0]!), "02000d40736574446174614672616d65")
    assert.strictEqual(pieces[1], meta)
    const cue = Uint8Array.from([2, 0, 10, ...new TextEncoder().encode("onCuePoint"), 5])
    assert.strictEqual(FlvMuxer.toMessage(frame({ kind: "data", codec: "amf0", payload: cue }), 1).payload, cue)
  })
})
