/**
 * The foundation's acceptance: the CLI publishes ffmpeg-made H.264/AAC FLVs to a real nginx-rtmp
 * (`record all`) and through its RTMPS front, on both transports, and the recordings hold exactly the
 * source's packets (framemd5 of source and recording, up to a constant timestamp offset).
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertFlvTagsEqual,
  comparePackets,
  makeFixture,
  makeTempDir,
  type NginxServer,
  readFlv,
  removeTempDir,
  runCli,
  startNginx
} from "./support/index.ts"

let work: string
let nginx: NginxServer
let clip: string
let wrapping: string
let short: string
let clipTags: number

beforeAll(async () => {
  work = await makeTempDir("publish-nginx")
  const results = await Promise.allSettled([
    startNginx({ tls: true }).then((s) => (nginx = s)),
    makeFixture({ path: path.join(work, "clip.flv"), seconds: 10 }).then((f) => (clip = f)),
    // Starts at 16777 s = 16 777 000 ms and crosses 0xFFFFFF (16 777 215) ms after 215 ms.
    makeFixture({ path: path.join(work, "wrapping.flv"), seconds: 3, outputTsOffset: 16777 }).then((f) => (wrapping = f)),
    makeFixture({ path: path.join(work, "short.flv"), seconds: 3 }).then((f) => (short = f))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason
  // Every tag is a frame: onMetaData, the config records, the media and the AVC end-of-sequence tag ffmpeg
  // writes last (the demuxer forwards it, as ffmpeg itself ends a publish with one).
  clipTags = (await readFlv(clip)).tags.length
})

afterAll(async () => {
  await nginx?.stop()
  if (work) await removeTempDir(work)
})

/** Publishes with the CLI, asserts a successful JSON summary, and compares the recording with the source. */
const publishAndCompare = async (
  source: string,
  key: string,
  options: { transport: string; tls: boolean; stdin?: boolean; extra?: ReadonlyArray<string> }
) => {
  const url = options.tls ? nginx.tlsUrl(key) : nginx.url(key)
  const args = [
    "publish", options.stdin ? "-" : source, url, "--json", "--transport", options.transport,
    ...(options.tls ? ["--ca", nginx.caFile!] : []),
    ...(options.extra ?? [])
  ]
  const run = await runCli(args, options.stdin ? { stdinFile: source } : {})
  expect(run.code, run.stderr).toBe(0)
  expect(run.summary).toMatchObject({ event: "summary", status: "ok", attempts: 1, transport: options.transport })
  expect(run.stdout).not.toContain(key)
  const recording = await nginx.waitForRecording(key)
  await comparePackets(source, recording, { commonOffset: true })
  await assertFlvTagsEqual(source, recording)
  return run
}

for (const transport of ["coroutine", "blocking"] as const) {
  describe(`nginx-rtmp, ${transport} transport`, () => {
    for (const tls of [false, true]) {
      const scheme = tls ? "rtmps" : "rtmp"
      it(`${scheme}: a 10 s clip arrives packet-exact`, async () => {
        const run = await publishAndCompare(clip, `clip-${transport}-${scheme}`, { transport, tls })
        // Every frame of the source (onMetaData, config records, media) was sent.
        expect(run.summary?.frames).toBe(clipTags)
      })

      it(`${scheme}: timestamps crossing 0xFFFFFF ms arrive packet-exact`, async () => {
        await publishAndCompare(wrapping, `wrap-${transport}-${scheme}`, { transport, tls })
      })

      it(`${scheme}: a clip fed through stdin arrives packet-exact`, async () => {
        await publishAndCompare(clip, `stdin-${transport}-${scheme}`, { transport, tls, stdin: true })
      })
    }

    it("rtmps --realtime paces the publish by timestamps and arrives packet-exact", async () => {
      const started = Date.now()
      const run = await publishAndCompare(short, `realtime-${transport}`, { transport, tls: true, extra: ["--realtime"] })
      // A 3 s clip published in real time cannot finish in much less than its duration.
      expect(Date.now() - started).toBeGreaterThan(2500)
      expect(run.summary?.status).toBe("ok")
    })
  })
}
