import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Amf0 from "../src/Amf0.ts"
import * as Commands from "../src/Commands.ts"
import { MessageType } from "../src/Message.ts"
import * as Url from "../src/Url.ts"

// A hand-written AMF0 writer for the expected bytes: the oracle shares no code with Amf0.ts.
const utf8 = (s: string): Array<number> => [...Buffer.from(s, "utf8")]
const u16 = (n: number): Array<number> => [n >> 8, n & 0xff]
const u32 = (n: number): Array<number> => [n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
const key = (s: string): Array<number> => [...u16(utf8(s).length), ...utf8(s)]
const str = (s: string): Array<number> => [0x02, ...key(s)]
const num = (n: number): Array<number> => {
  const b = Buffer.alloc(8)
  b.writeDoubleBE(n)
  return [0x00, ...b]
}
const obj = (...props: ReadonlyArray<readonly [string, Array<number>]>): Array<number> => [
  0x03,
  ...props.flatMap(([k, v]) => [...key(k), ...v]),
  0x00,
  0x00,
  0x09
]
const strictArray = (...items: ReadonlyArray<Array<number>>): Array<number> => [0x0a, ...u32(items.length), ...items.flat()]

const url = (() => {
  const parsed = Url.parseResult("rtmp://127.0.0.1:1935/live/key")
  if (Result.isFailure(parsed)) throw new Error("bad test URL")
  return parsed.success
})()

const payloadBytes = (payload: Uint8Array | ReadonlyArray<Uint8Array>): Array<number> =>
  payload instanceof Uint8Array ? [...payload] : payload.flatMap((p) => [...p])

const legacyObject: ReadonlyArray<readonly [string, Array<number>]> = [
  ["app", str("live")],
  ["type", str("nonprivate")],
  ["flashVer", str(Commands.flashVer)],
  ["tcUrl", str("rtmp://127.0.0.1:1935/live")]
]

const video = ["av01", "vp09", "vp08", "hvc1", "avc1", "vvc1"]
const audio = ["Opus", "fLaC", "ac-3", "ec-3", "mp4a", ".mp3"]

describe("Commands.connect", () => {
  it("advertises Enhanced RTMP after the legacy properties: exact AMF0 bytes", () => {
    const message = Commands.connect(url)
    assert.strictEqual(message.typeId, MessageType.CommandAmf0)
    assert.strictEqual(message.streamId, 0)
    assert.strictEqual(message.chunkStreamId, 3)
    const expected = [
      ...str("connect"),
      ...num(1),
      ...obj(
        ...legacyObject,
        ["fourCcList", strictArray(...[...video, ...audio].map(str))],
        // FourCcInfoMask.CanEncode (0x02) for each FourCC: what a publisher produces
        ["videoFourCcInfoMap", obj(...video.map((f) => [f, num(2)] as const))],
        ["audioFourCcInfoMap", obj(...audio.map((f) => [f, num(2)] as const))],
        // CapsExMask Reconnect 0x01 | Multitrack 0x02 | ModEx 0x04 | TimestampNanoOffset 0x08
        ["capsEx", num(15)]
      )
    ]
    assert.deepStrictEqual(Buffer.from(payloadBytes(message.payload)).toString("hex"), Buffer.from(expected).toString("hex"))
  })

  it("decodes to the E-RTMP v2 values", () => {
    const decoded = Amf0.decode(new Uint8Array(payloadBytes(Commands.connect(url).payload)))
    assert.isTrue(Result.isSuccess(decoded))
    const [name, transaction, command] = Result.getOrThrow(decoded)
    assert.deepStrictEqual([name, transaction], ["connect", 1])
    assert.deepStrictEqual(command, {
      app: "live",
      type: "nonprivate",
      flashVer: "FMLE/3.0 (compatible; effect-rtmp)",
      tcUrl: "rtmp://127.0.0.1:1935/live",
      fourCcList: ["av01", "vp09", "vp08", "hvc1", "avc1", "vvc1", "Opus", "fLaC", "ac-3", "ec-3", "mp4a", ".mp3"],
      videoFourCcInfoMap: { av01: 2, vp09: 2, vp08: 2, hvc1: 2, avc1: 2, vvc1: 2 },
      audioFourCcInfoMap: { Opus: 2, fLaC: 2, "ac-3": 2, "ec-3": 2, mp4a: 2, ".mp3": 2 },
      capsEx: 15
    })
  })

  it("lists exactly the FourCCs the muxer can send", async () => {
    const EnhancedRtmp = await import("../src/EnhancedRtmp.ts")
    assert.sameMembers([...Commands.videoFourCcs], Object.values(EnhancedRtmp.videoFourCc))
    assert.sameMembers([...Commands.audioFourCcs], Object.values(EnhancedRtmp.audioFourCc))
  })

  it("enhanced: false sends the legacy command object only: exact AMF0 bytes", () => {
    const message = Commands.connect(url, { enhanced: false })
    const expected = [...str("connect"), ...num(1), ...obj(...legacyObject)]
    assert.deepStrictEqual(payloadBytes(message.payload), expected)
  })

  it("keeps app and tcUrl of a multi-level app", () => {
    const parsed = Url.parseResult("rtmps://h:8443/app/inst/key?x=1")
    if (Result.isFailure(parsed)) throw new Error("bad test URL")
    const decoded = Result.getOrThrow(Amf0.decode(new Uint8Array(payloadBytes(Commands.connect(parsed.success).payload))))
    const command = decoded[2] as Amf0.Amf0Object
    assert.deepStrictEqual([command.app, command.tcUrl], ["app/inst", "rtmps://h:8443/app/inst"])
  })
})
