/**
 * Where a live publish resumes: at a keyframe, close to live (internal/liveResume.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import * as LiveResume from "../src/internal/liveResume.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as ReplayBuffer from "../src/ReplayBuffer.ts"
import * as SendQueue from "../src/SendQueue.ts"
import { bytes, frame } from "./support/frames.ts"

const video = (dts: number, keyframe = false) => frame("video", dts, bytes(100, dts), { keyframe })
const audio = (dts: number) => frame("audio", dts, bytes(10, dts))
const name = (f: MediaFrame) => `${f.kind[0]}${f.config ? "c" : f.keyframe ? "k" : ""}@${f.dts}`
const config = frame("video", 0, bytes(40, 1), { config: true, keyframe: true })

/** A replay buffer holding `written` (sent on the old connection, unacknowledged) and `unwritten` frames. */
const replay = (written: ReadonlyArray<MediaFrame>, unwritten: ReadonlyArray<MediaFrame>) => {
  const buffer = ReplayBuffer.make({ retainGop: false })
  written.forEach((f, i) => buffer.markSent(buffer.push(f), (i + 1) * 100))
  unwritten.forEach((f) => buffer.push(f))
  return buffer.resume().entries
}
/** A live send queue holding `frames` (within its bounds). */
const queued = (frames: ReadonlyArray<MediaFrame>) => {
  const queue = SendQueue.make({ policy: "drop", maxDurationMs: 60_000 })
  frames.forEach((f, i) => queue.push(f, i))
  return { queue }
}

describe("LiveResume.plan", () => {
  it("a keyframe queued: nothing of the old connection again, the queue from its newest keyframe", () => {
    const entries = replay([config, video(0, true), audio(10), video(40)], [video(80), audio(90)])
    const { queue } = queued([video(120), audio(130), video(160, true), audio(170), video(200)])
    const plan = LiveResume.plan(entries, queue, true)
    assert.deepStrictEqual(plan.entries.map((e) => name(e.frame)), ["vc@0"])
    assert.strictEqual(plan.skipped, 5)
    assert.deepStrictEqual(queue.take(Infinity).map(name), ["vk@160", "a@170", "v@200"])
  })

  it("none queued: the frames never written, from their first keyframe (a reconnect request's cut)", () => {
    const entries = replay([video(0, true), video(40)], [audio(70), video(80, true), audio(90), video(120)])
    const { queue } = queued([video(160), audio(170)])
    const plan = LiveResume.plan(entries, queue, true)
    assert.deepStrictEqual(plan.entries.map((e) => name(e.frame)), ["vk@80", "a@90", "v@120"])
    assert.strictEqual(plan.skipped, 3)
    assert.deepStrictEqual(queue.take(Infinity).map(name), ["v@160", "a@170"], "the GOP goes on")
  })

  it("no keyframe anywhere: video waits for the source's next keyframe, audio goes on", () => {
    const entries = replay([video(0, true)], [video(40), audio(50)])
    const { queue } = queued([video(80), audio(90)])
    const plan = LiveResume.plan(entries, queue, true)
    assert.deepStrictEqual(plan.entries.map((e) => name(e.frame)), ["a@50"])
    assert.deepStrictEqual(queue.take(Infinity).map(name), ["a@90"])
    queue.push(video(120), 10)
    queue.push(video(160, true), 11)
    queue.push(video(200), 12)
    assert.deepStrictEqual(queue.take(Infinity).map(name), ["vk@160", "v@200"])
    assert.deepStrictEqual(queue.dropped(), { "video:0": 2 })
  })

  it("audio only: the frames never written go, queued audio older than the duration bound does not", () => {
    const entries = replay([audio(0), audio(20)], [audio(40)])
    const queue = SendQueue.make({ policy: "drop", maxDurationMs: 100 })
    for (let dts = 60; dts <= 400; dts += 20) queue.push(audio(dts), dts)
    const plan = LiveResume.plan(entries, queue, false)
    assert.deepStrictEqual(plan.entries.map((e) => name(e.frame)), ["a@40"])
    assert.deepStrictEqual(queue.take(Infinity).map(name), ["a@300", "a@320", "a@340", "a@360", "a@380", "a@400"])
  })
})
