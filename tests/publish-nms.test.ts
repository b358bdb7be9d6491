/**
 * node-media-server as a second real server: the CLI publishes an ffmpeg-made FLV over RTMP and RTMPS,
 * on both transports; the server's recording carries the source's packets (content and timestamps).
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertFlvTagsEqual,
  compareContent,
  makeFixture,
  makeTempDir,
  type NodeMediaServerInstance,
  removeTempDir,
  runCli,
  startNodeMediaServer
} from "./support/index.ts"

let work: string
let nms: NodeMediaServerInstance
let clip: string

beforeAll(async () => {
  work = await makeTempDir("publish-nms")
  const results = await Promise.allSettled([
    startNodeMediaServer({ tls: true }).then((s) => (nms = s)),
    makeFixture({ path: path.join(work, "clip.flv"), seconds: 5 }).then((f) => (clip = f))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
})

afterAll(async () => {
  await nms?.stop()
  if (work) await removeTempDir(work)
})

for (const transport of ["coroutine", "blocking"] as const) {
  describe(`node-media-server, ${transport} transport`, () => {
    for (const tls of [false, true]) {
      const scheme = tls ? "rtmps" : "rtmp"
      it(`${scheme}: the recording carries the source's packets`, async () => {
        const key = `nms_${transport}_${scheme}`
        const url = tls ? nms.tlsUrl(key) : nms.url(key)
        const run = await runCli([
          "publish", clip, url, "--json", "--transport", transport, ...(tls ? ["--ca", nms.caFile!] : [])
        ])
        expect(run.code, run.stderr).toBe(0)
        expect(run.summary).toMatchObject({ status: "ok", transport })
        const recording = await nms.waitForRecording(key)
        await compareContent(clip, recording)
        await assertFlvTagsEqual(clip, recording, { timestamps: false })
      })
    }
  })
}

describe("node-media-server, a live publish (--realtime: flow control, send queue)", () => {
  it("rtmp: nothing dropped on a fast link, the recording carries the source's packets", async () => {
    const key = "nms_live"
    const run = await runCli(["publish", clip, nms.url(key), "--json", "--realtime"])
    expect(run.code, run.stderr).toBe(0)
    // node-media-server answers no Ping Request: no round trip time to report.
    expect(run.summary).toMatchObject({ status: "ok", droppedFrames: {}, rttMs: null })
    const recording = await nms.waitForRecording(key)
    await compareContent(clip, recording)
    await assertFlvTagsEqual(clip, recording, { timestamps: false })
  })
})
