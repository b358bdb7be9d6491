/**
 * The send queue: backpressure for files, GOP-aware drops for live sources.
 */
import { assert, describe, it } from "@effect/vitest"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as SendQueue from "../src/SendQueue.ts"
import { bytes, frame } from "./support/frames.ts"

const video = (dts: number, size: number, keyframe = false, track = 0) =>
  frame("video", dts, bytes(size, dts), { keyframe, track })
const audio = (dts: number, track = 0) => frame("audio", dts, bytes(100, dts), { track })
const name = (f: MediaFrame) =>
  `${f.metadata === true ? "m" : f.kind[0]}${f.track ?? 0}${f.config ? "c" : f.keyframe ? "k" : ""}@${f.dts}`

/** Pushes everything, then takes everything. */
const through = (queue: SendQueue.SendQueue, frames: ReadonlyArray<MediaFrame>) => {
  frames.forEach((f, i) => queue.push(f, i))
  return queue.take(Infinity).map(name)
}

describe("SendQueue", () => {
  it("policy wait: never drops, is full at its byte bound, and takes by bytes but at least one frame", () => {
    const queue = SendQueue.make({ policy: "wait", maxBytes: 10_000 })
    for (let i = 0; i < 30; i++) queue.push(video(i * 40, 1000, i === 0), i)
    assert.isTrue(queue.full())
    assert.deepStrictEqual([queue.frames(), queue.bytes(), queue.dropped()], [30, 30_000, {}])
    assert.strictEqual(queue.take(2500).length, 2)
    assert.strictEqual(queue.take(10).length, 1, "a frame larger than the limit still goes")
    assert.strictEqual(queue.oldestAt(), 3)
    assert.strictEqual(queue.take(Infinity).length, 27)
    assert.isFalse(queue.full())
    assert.strictEqual(queue.bytesIn(), 30_000)
  })

  it("policy drop, within bounds: nothing dropped", () => {
    const queue = SendQueue.make({ policy: "drop", maxBytes: 1_000_000, maxDurationMs: 1000 })
    const frames = Array.from({ length: 25 }, (_, i) => video(i * 40, 1000, i % 10 === 0))
    assert.deepStrictEqual(through(queue, frames), frames.map(name))
    assert.deepStrictEqual(queue.dropped(), {})
  })

  it("over its byte bound: the oldest GOP's inter frames go first, its keyframe stays", () => {
    const queue = SendQueue.make({ policy: "drop", maxBytes: 20_000 })
    // GOPs of 10 frames of 1000 bytes: the 21st frame makes 21 000 bytes.
    const frames = Array.from({ length: 21 }, (_, i) => video(i * 40, 1000, i % 10 === 0))
    assert.deepStrictEqual(through(queue, frames), ["v0k@0", ...frames.slice(10).map(name)])
    assert.deepStrictEqual(queue.dropped(), { "video:0": 9 })
  })

  it("over its duration: inter frames go, GOP by GOP, while the queue's oldest frame holds it over", () => {
    const queue = SendQueue.make({ policy: "drop", maxDurationMs: 1000 })
    // Keyframes at 0, 400, 800: at 1040 ms, 1040 ms are queued. Dropping inter frames leaves the keyframe at
    // 0 where it is, so every GOP loses its inter frames, and the newest one the rest of its own.
    const frames = Array.from({ length: 30 }, (_, i) => video(i * 40, 1000, i % 10 === 0))
    assert.deepStrictEqual(through(queue, frames), ["v0k@0", "v0k@400", "v0k@800"])
    assert.deepStrictEqual(queue.dropped(), { "video:0": 27 })
    // Once the writer took the old frames, the next GOP flows whole.
    const next = Array.from({ length: 10 }, (_, i) => video(1200 + i * 40, 1000, i === 0))
    assert.deepStrictEqual(through(queue, next), next.map(name))
  })

  it("drops the rest of a GOP whose inter frames were dropped, up to its track's next keyframe", () => {
    const queue = SendQueue.make({ policy: "drop", maxBytes: 5000 })
    const gop = [video(0, 1000, true), ...Array.from({ length: 9 }, (_, i) => video(40 + i * 40, 1000))]
    gop.forEach((f, i) => queue.push(f, i))
    // 6 frames made 6000 bytes: the inter frames went; the ones after them in this GOP go on arrival.
    assert.deepStrictEqual(queue.take(Infinity).map(name), ["v0k@0"])
    assert.deepStrictEqual(queue.dropped(), { "video:0": 9 })
    queue.push(video(400, 1000, true), 10)
    queue.push(video(440, 1000), 11)
    assert.deepStrictEqual(queue.take(Infinity).map(name), ["v0k@400", "v0@440"], "the next GOP flows again")
  })

  it("then whole keyframe-only GOPs, oldest first; never audio, configs, metadata or data", () => {
    const queue = SendQueue.make({ policy: "drop", maxDurationMs: 500 })
    const frames = [
      frame("data", 0, bytes(50, 1)),
      frame("video", 0, bytes(40, 2), { config: true, keyframe: true }),
      frame("audio", 0, bytes(2, 3), { config: true }),
      ...Array.from({ length: 40 }, (_, i) => [video(i * 40, 500, i % 5 === 0), audio(i * 40 + 20)]).flat(),
      frame("video", 1600, bytes(30, 4), { metadata: true, keyframe: true })
    ]
    const out = through(queue, frames)
    const expectedKept = frames.filter((f) => f.kind !== "video" || f.config || f.metadata === true)
    // Every non-video frame and every video signal is there, in order.
    assert.deepStrictEqual(out.filter((n) => !/^v0k?@/.test(n)), expectedKept.map(name))
    // What video remains is keyframes, or inter frames right after their GOP's kept frames (no gaps).
    const kept = out.filter((n) => /^v0k?@/.test(n))
    assert.isTrue(kept.length < 40)
    const dts = (n: string) => Number(n.split("@")[1])
    kept.forEach((n, i) => {
      if (n.startsWith("v0k")) return
      assert.strictEqual(dts(kept[i - 1]!), dts(n) - 40, `${n} follows its predecessor`)
    })
    assert.strictEqual(queue.dropped()["video:0"], 40 - kept.length)
    assert.strictEqual(queue.dropped()["audio:0"], undefined)
  })

  it("GOPs are per video track: dropping track 1 leaves track 0's GOP whole", () => {
    const queue = SendQueue.make({ policy: "drop", maxBytes: 12_000 })
    // Track 1 (big frames) starts its GOP first; its inter frames are the oldest.
    const frames = [
      video(0, 1000, true, 1),
      video(0, 100, true, 0),
      ...Array.from({ length: 12 }, (_, i) => [video(40 + i * 40, 1000, false, 1), video(40 + i * 40, 100, false, 0)]).flat()
    ]
    const out = through(queue, frames)
    assert.deepStrictEqual(out.filter((n) => n.startsWith("v0")).length, 13, "track 0 untouched")
    assert.isAbove(queue.dropped()["video:1"] ?? 0, 0)
    assert.strictEqual(queue.dropped()["video:0"], undefined)
  })

  it("after an outage, skips to the newest keyframe: configs and data stay, older audio and video go", () => {
    const queue = SendQueue.make({ policy: "drop", maxDurationMs: 60_000 })
    const frames = [
      frame("data", 0, bytes(50, 1)),
      frame("video", 0, bytes(40, 2), { config: true, keyframe: true }),
      ...Array.from({ length: 30 }, (_, i) => [video(i * 100, 300, i % 10 === 0), audio(i * 100 + 50)]).flat(),
      frame("audio", 2950, bytes(2, 3), { config: true })
    ]
    frames.forEach((f, i) => queue.push(f, i))
    queue.skipStale()
    assert.deepStrictEqual(queue.take(Infinity).map(name), [
      "d0@0",
      "v0c@0",
      ...frames.slice(2 + 40).map(name)
    ])
    assert.deepStrictEqual(queue.dropped(), { "video:0": 20, "audio:0": 20 })
  })

  it("after an outage, audio only: keeps the last duration bound of audio", () => {
    const queue = SendQueue.make({ policy: "drop", maxDurationMs: 1000 })
    const frames = Array.from({ length: 100 }, (_, i) => audio(i * 50))
    frames.forEach((f, i) => queue.push(f, i))
    queue.skipStale()
    assert.deepStrictEqual(queue.take(Infinity).map(name), frames.slice(79).map(name))
    assert.deepStrictEqual(queue.dropped(), { "audio:0": 79 })
  })

  it("any live sequence, any takes: audio complete and in order, every GOP a prefix, every drop counted", () => {
    let seed = 20261124
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    for (let run = 0; run < 200; run++) {
      const maxBytes = 2000 + Math.floor(random() * 40_000)
      const maxDurationMs = 100 + Math.floor(random() * 2000)
      const queue = SendQueue.make({ policy: "drop", maxBytes, maxDurationMs })
      const source: Array<MediaFrame> = []
      const taken: Array<MediaFrame> = []
      let gopIndex = -1
      for (let i = 0; i < 300; i++) {
        const dts = i * 20
        const f = random() < 0.4
          ? audio(dts)
          : video(dts, 200 + Math.floor(random() * 3000), random() < 0.08 || gopIndex < 0)
        if (f.kind === "video" && f.keyframe) gopIndex += 1
        source.push(f)
        queue.push(f, dts)
        if (random() < 0.3) taken.push(...queue.take(Math.floor(random() * 8000)))
      }
      taken.push(...queue.take(Infinity))
      const audioIn = source.filter((f) => f.kind === "audio").map(name)
      assert.deepStrictEqual(taken.filter((f) => f.kind === "audio").map(name), audioIn, `run ${run}: audio`)
      // Each GOP's taken frames are a prefix of it.
      const gops: Array<Array<MediaFrame>> = []
      for (const f of source) {
        if (f.kind !== "video") continue
        if (f.keyframe) gops.push([])
        gops.at(-1)!.push(f)
      }
      const takenSet = new Set(taken)
      for (const gop of gops) {
        const flags = gop.map((f) => takenSet.has(f))
        const firstMissing = flags.indexOf(false)
        if (firstMissing >= 0) assert.isFalse(flags.slice(firstMissing).includes(true), `run ${run}: GOP with a gap`)
      }
      const droppedVideo = source.filter((f) => f.kind === "video").length - taken.filter((f) => f.kind === "video").length
      assert.strictEqual(queue.dropped()["video:0"] ?? 0, droppedVideo, `run ${run}: drops counted`)
    }
  })
})
