import { assert, describe, it } from "@effect/vitest"
import * as Acknowledgements from "../src/Acknowledgements.ts"
import * as Amf0 from "../src/Amf0.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as ReplayBuffer from "../src/ReplayBuffer.ts"

const frame = (kind: MediaFrame["kind"], dts: number, size: number, more: Partial<MediaFrame> = {}): MediaFrame => ({
  kind,
  codec: kind === "video" ? "avc" : kind === "audio" ? "aac" : "amf0",
  dts,
  cts: 0,
  keyframe: false,
  config: false,
  payload: new Uint8Array(size),
  ...more
})

const metadata: MediaFrame = { ...frame("data", 0, 0), payload: Amf0.encode(["onMetaData", { width: 320 }]) }
const videoConfig = frame("video", 0, 40, { config: true, keyframe: true })
const audioConfig = frame("audio", 0, 2, { config: true })

/** A GOP: a keyframe and `n - 1` inter frames, each followed by an audio frame; 100-byte payloads. */
const gop = (start: number, n = 4): Array<MediaFrame> =>
  Array.from({ length: n }, (_, i) => [
    frame("video", start + i * 40, 100, { keyframe: i === 0 }),
    frame("audio", start + i * 40 + 20, 100)
  ]).flat()

/** metadata, configs, then three GOPs of 8 frames: indices 3, 11, 19 are the keyframes. */
const show: ReadonlyArray<MediaFrame> = [metadata, videoConfig, audioConfig, ...gop(0), ...gop(160), ...gop(320)]
const K = [3, 11, 19] as const

/** Pushes every frame and marks it written, frame i ending at byte (i + 1) * 1000. */
const sendAll = (buffer: ReplayBuffer.ReplayBuffer, frames: ReadonlyArray<MediaFrame>, offset = 0) =>
  frames.map((f, i) => {
    const entry = buffer.push(f)
    buffer.markSent(entry, (offset + i + 1) * 1000)
    return entry
  })

const framesOf = (resumption: ReplayBuffer.Resumption) => resumption.entries.map((entry) => entry.frame)

describe("ReplayBuffer", () => {
  it("nothing acknowledged: a new connection gets every frame again, from the first, without extra headers", () => {
    const buffer = ReplayBuffer.make()
    sendAll(buffer, show)
    const resumption = buffer.resume()
    assert.deepStrictEqual(resumption.headers, [])
    assert.deepStrictEqual(framesOf(resumption), show)
    assert.strictEqual(resumption.dropped, 0)
  })

  it("resumes at the keyframe of the first unacknowledged frame, after metadata and both configs", () => {
    const buffer = ReplayBuffer.make()
    sendAll(buffer, show)
    // Frames 0..13 end at or before 14000: the first undelivered is 14, in the GOP of keyframe 11.
    buffer.acknowledge(14_000)
    assert.strictEqual(buffer.length(), show.length - K[1])
    const resumption = buffer.resume()
    assert.deepStrictEqual(resumption.headers, [metadata, videoConfig, audioConfig])
    assert.deepStrictEqual(framesOf(resumption), show.slice(K[1]))
  })

  it("a frame ending exactly at the acknowledged byte is delivered; one byte more is not", () => {
    // Frame 18, the last of keyframe 11's GOP, ends at byte 19 000.
    const short = ReplayBuffer.make()
    sendAll(short, show)
    short.acknowledge(K[2] * 1000 - 1)
    assert.deepStrictEqual(framesOf(short.resume()), show.slice(K[1]))

    const exact = ReplayBuffer.make()
    sendAll(exact, show)
    exact.acknowledge(K[2] * 1000)
    assert.deepStrictEqual(framesOf(exact.resume()), show.slice(K[2]))
  })

  it("everything acknowledged: the last GOP is kept, so that a new connection starts on a keyframe", () => {
    const buffer = ReplayBuffer.make()
    sendAll(buffer, show)
    buffer.acknowledge(show.length * 1000)
    assert.deepStrictEqual(framesOf(buffer.resume()), show.slice(K[2]))
  })

  it("retainGop false (live): delivered frames go, mid-GOP too; a new connection gets the undelivered ones from the first", () => {
    const buffer = ReplayBuffer.make({ retainGop: false })
    sendAll(buffer, show)
    buffer.acknowledge(14_000) // up to index 13, inside the second GOP
    assert.strictEqual(buffer.length(), show.length - 14)
    const resumption = buffer.resume()
    assert.deepStrictEqual(resumption.entries.map((e) => e.frame), show.slice(14))
    assert.deepStrictEqual(resumption.headers, [metadata, videoConfig, audioConfig])
  })

  it("frames pushed but never written are undelivered, whatever the acknowledgement", () => {
    const buffer = ReplayBuffer.make()
    sendAll(buffer, show.slice(0, 15))
    for (const f of show.slice(15)) buffer.push(f)
    buffer.acknowledge(1_000_000)
    // 0..14 delivered: the first undelivered is 15, in keyframe 11's GOP.
    assert.deepStrictEqual(framesOf(buffer.resume()), show.slice(K[1]))
  })

  it("audio only: resumes at the first unacknowledged frame, after the audio config", () => {
    const audio = [audioConfig, ...Array.from({ length: 10 }, (_, i) => frame("audio", i * 23, 50))]
    const buffer = ReplayBuffer.make()
    sendAll(buffer, audio)
    buffer.acknowledge(6_000)
    const resumption = buffer.resume()
    assert.deepStrictEqual(resumption.headers, [audioConfig])
    assert.deepStrictEqual(framesOf(resumption), audio.slice(6))
  })

  it("a resumption forgets the previous connection's offsets: its acknowledgements count from zero again", () => {
    const buffer = ReplayBuffer.make()
    sendAll(buffer, show)
    buffer.acknowledge(14_000)
    const first = buffer.resume()
    assert.isTrue(first.entries.every((entry) => entry.end === undefined))
    // On the new connection, the replayed frames 11.. end at 1000, 2000, ...: acknowledging 10 000 covers
    // frames 11..20, the first undelivered is 21, in keyframe 19's GOP.
    first.entries.forEach((entry, i) => buffer.markSent(entry, (i + 1) * 1000))
    buffer.acknowledge(10_000)
    assert.deepStrictEqual(framesOf(buffer.resume()), show.slice(K[2]))
  })

  it("a config that changes mid-stream: the headers carry the one in effect at the resume point", () => {
    const newConfig = frame("video", 300, 44, { config: true, keyframe: true })
    const frames = [...show.slice(0, K[2]), newConfig, ...show.slice(K[2])]
    const buffer = ReplayBuffer.make()
    sendAll(buffer, frames)
    buffer.acknowledge((K[2] + 2) * 1000) // through the new config and keyframe 19 (now at index 20)
    const resumption = buffer.resume()
    assert.deepStrictEqual(resumption.headers, [metadata, newConfig, audioConfig])
    assert.deepStrictEqual(framesOf(resumption), frames.slice(K[2] + 1))
  })

  it("the bound drops the oldest whole GOPs and counts their undelivered media frames", () => {
    // Three GOPs of 800 bytes plus 42 bytes of configs; room for two GOPs.
    const buffer = ReplayBuffer.make({ maxBytes: 1700 })
    sendAll(buffer, show)
    assert.isAtMost(buffer.bytes(), 1700)
    assert.strictEqual(buffer.length(), show.length - K[1])
    const resumption = buffer.resume()
    // The configs went with the first GOP, but the headers still carry them; the 8 media frames are lost.
    assert.deepStrictEqual(resumption.headers, [metadata, videoConfig, audioConfig])
    assert.deepStrictEqual(framesOf(resumption), show.slice(K[1]))
    assert.strictEqual(resumption.dropped, 8)
    // Counted once.
    assert.strictEqual(buffer.resume().dropped, 0)
  })

  it("dropped frames that an acknowledgement covers later are not counted", () => {
    const buffer = ReplayBuffer.make({ maxBytes: 1700 })
    sendAll(buffer, show)
    buffer.acknowledge(K[1] * 1000) // every frame of the dropped GOP was delivered after all
    assert.strictEqual(buffer.resume().dropped, 0)
  })

  it("delivered frames are not counted when dropped", () => {
    const buffer = ReplayBuffer.make({ maxBytes: 1700 })
    sendAll(buffer, show.slice(0, 12))
    buffer.acknowledge(12_000) // keeps keyframe 11's GOP only
    sendAll(buffer, show.slice(12), 12)
    assert.strictEqual(buffer.resume().dropped, 0)
  })

  it("a GOP larger than the bound is dropped too: the bound holds", () => {
    const big = [frame("video", 0, 600, { keyframe: true }), frame("video", 40, 600), frame("video", 80, 600)]
    const buffer = ReplayBuffer.make({ maxBytes: 1000 })
    sendAll(buffer, big)
    assert.isAtMost(buffer.bytes(), 1000)
    const resumption = buffer.resume()
    assert.deepStrictEqual(framesOf(resumption), big.slice(2))
    assert.strictEqual(resumption.dropped, 2)
  })

  it("Enhanced RTMP: headers per track, with video metadata and channel layouts; GOPs of the default track", () => {
    const hdr = frame("video", 0, 20, { metadata: true })
    const secondAudio = frame("audio", 0, 19, { config: true, codec: "opus", track: 1 })
    const layout = frame("audio", 0, 4, { multichannelConfig: true, track: 1 })
    const secondVideoKey = frame("video", 200, 100, { keyframe: true, track: 1 })
    const frames = [metadata, videoConfig, hdr, audioConfig, secondAudio, layout, ...gop(0), secondVideoKey, ...gop(160)]
    const buffer = ReplayBuffer.make()
    sendAll(buffer, frames)
    buffer.acknowledge(frames.length * 1000)
    const resumption = buffer.resume()
    assert.deepStrictEqual(resumption.headers, [metadata, videoConfig, hdr, audioConfig, secondAudio, layout])
    // Track 1's keyframe does not start a GOP: the resume point is the default track's.
    assert.deepStrictEqual(framesOf(resumption), frames.slice(frames.length - 8))
  })

  it("recognises onMetaData, plain or wrapped in @setDataFrame, and nothing else", () => {
    assert.isTrue(ReplayBuffer.isMetadata(metadata))
    assert.isTrue(ReplayBuffer.isMetadata({ ...metadata, payload: Amf0.encode(["@setDataFrame", "onMetaData", {}]) }))
    assert.isFalse(ReplayBuffer.isMetadata({ ...metadata, payload: Amf0.encode(["onCuePoint", {}]) }))
    assert.isFalse(ReplayBuffer.isMetadata({ ...metadata, kind: "audio" }))
  })
})

describe("Acknowledgements", () => {
  const H = Acknowledgements.handshakeAllowance

  it("counts nothing before the first acknowledgement, and takes the handshake off", () => {
    const acks = Acknowledgements.make()
    assert.strictEqual(acks.bytes(), 0)
    acks.receive(1_000_000)
    assert.strictEqual(acks.bytes(), 1_000_000 - H)
    acks.receive(2_000_000)
    assert.strictEqual(acks.bytes(), 2_000_000 - H)
  })

  it("never more than was sent", () => {
    let sent = 500
    const acks = Acknowledgements.make(() => sent)
    acks.receive(1_000_000)
    assert.strictEqual(acks.bytes(), 500)
    sent = 2_000_000
    assert.strictEqual(acks.bytes(), 1_000_000 - H)
  })

  it("follows the sequence number across its 32-bit wrap (a lower bound)", () => {
    const acks = Acknowledgements.make()
    acks.receive(0xffff_0000)
    acks.receive(0x0000_1000) // wrapped: really 0x1_0000_1000
    // Short of the real count by at most what went unacknowledged before the wrap.
    assert.isAtMost(acks.bytes(), 0x1_0000_1000 - H)
    assert.isAtLeast(acks.bytes(), 0x1_0000_1000 - H - 0x1_0000)
    acks.receive(0x0010_0000)
    assert.isAtMost(acks.bytes(), 0x1_0010_0000 - H)
    assert.isAtLeast(acks.bytes(), 0x1_0010_0000 - H - 0x1_0000)
  })

  it("a server that resets its counter (nginx-rtmp at 0xF0000000) never makes it over-count", () => {
    const acks = Acknowledgements.make()
    acks.receive(0xefff_0000)
    // nginx received 0x2_0000 more bytes, passed 0xF000_0000, restarted at 0 and acknowledged 0x1_0000 later.
    acks.receive(0x0001_0000)
    assert.isAtMost(acks.bytes(), 0xefff_0000 + 0x2_0000 + 0x1_0000 - H)
    assert.isAtLeast(acks.bytes(), 0xefff_0000 - H)
  })
})
