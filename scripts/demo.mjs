// The README's first command: starts a real local ingest (node-media-server, in a child process, on a
// free 127.0.0.1 port), publishes the bundled sample with the effect-rtmp CLI, and prints what the
// server recorded, frame by frame compared with the sample.
import { fork, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { FlvDemuxer, MediaSource } from "@effect-rtmp/core"
import { Effect, Stream } from "effect"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const sample = path.join(root, "samples", "sample.flv")
const cli = path.join(root, "packages", "cli", "bin", "effect-rtmp.js")

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer().once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

/** Frames of an FLV file, read with effect-rtmp's own demuxer. */
const framesOf = (file) =>
  Effect.runPromise(Stream.runCollect(MediaSource.frames(file)))

const describe = (frames) => {
  const media = frames.filter((f) => !f.config && f.kind !== "data")
  const video = media.filter((f) => f.kind === "video")
  const audio = media.filter((f) => f.kind === "audio")
  const span = (list) => list.length < 2 ? 0 : (list.at(-1).dts - list[0].dts) / 1000
  return `${video.length} video frames (${video[0]?.codec ?? "none"}, ${video.filter((f) => f.keyframe).length} keyframes), ` +
    `${audio.length} audio frames (${audio[0]?.codec ?? "none"}), ${span(video).toFixed(2)} s of video`
}

const sameMedia = (a, b) => {
  const media = (frames) => frames.filter((f) => f.kind !== "data")
  const x = media(a)
  const y = media(b)
  return x.length === y.length &&
    x.every((f, i) => f.kind === y[i].kind && f.cts === y[i].cts && Buffer.compare(f.payload, y[i].payload) === 0)
}

const work = mkdtempSync(path.join(os.tmpdir(), "effect-rtmp-demo-"))
const port = await freePort()
const runner = path.join(root, "tests", "support", "nms-runner.mjs")
const server = fork(runner, [JSON.stringify({ rtmpPort: port, recordDir: work, dataDir: work, graceMs: 0 })], {
  stdio: ["ignore", "ignore", "inherit", "ipc"]
})
const recorded = new Promise((resolve) => server.on("message", (m) => m.event === "recordClosed" && resolve(m.filePath)))
await new Promise((resolve, reject) => {
  server.on("message", (m) => m.event === "ready" && resolve())
  server.once("exit", (code) => reject(new Error(`node-media-server exited early (code ${code})`)))
})

const url = `rtmp://127.0.0.1:${port}/live/demo`
console.log(`node-media-server is listening on 127.0.0.1:${port}`)
console.log(`$ effect-rtmp publish samples/sample.flv ${url}`)
const code = await new Promise((resolve) => spawn(process.execPath, [cli, "publish", sample, url], { stdio: "inherit" }).on("exit", resolve))

try {
  if (code !== 0) throw new Error(`the publish failed (exit code ${code})`)
  const file = await Promise.race([recorded, new Promise((_, reject) => setTimeout(() => reject(new Error("no recording after 10 s")), 10_000))])
  const [sent, arrived] = await Promise.all([framesOf(sample), framesOf(file)])
  console.log(`sent:     ${describe(sent)}`)
  console.log(`arrived:  ${describe(arrived)}  (recorded by node-media-server in ${path.basename(file)})`)
  console.log(sameMedia(sent, arrived) ? "every frame arrived byte for byte." : "the recording differs from the sample!")
  process.exitCode = sameMedia(sent, arrived) ? 0 : 1
} catch (error) {
  console.error(`demo failed: ${error.message}`)
  process.exitCode = 1
} finally {
  const exited = new Promise((resolve) => server.once("exit", resolve))
  server.kill("SIGTERM")
  await exited
  rmSync(work, { recursive: true, force: true })
}
