/**
 * Scale: one process publishing N real-time streams (3 Mb/s each, `realtime: true`) to a local nginx-rtmp,
 * raising N until a stream falls behind real time (more than 1 s late), its send queue drops a frame (a
 * live publish drops video rather than fall behind), or one is not publishing to the end (refused, failed). Prints, per N: CPU of this process (cores), resident
 * memory per stream (growth over the idle process, divided by N), the worst lag and the frames dropped;
 * then the largest N that kept up. ffmpeg's own
 * per-process figure is measured alongside (one `ffmpeg -re -c copy` publish of the same file).
 *
 *   npm run bench:scale -- [--start 25] [--max 400] [--factor 2] [--seconds 15]
 */
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { MediaSource, Publisher } from "@effect-rtmp/core"
import { layerCoroutine } from "@effect-rtmp/transport"
import { Effect, Fiber } from "effect"
import { spawnServer } from "../tests/support/process.ts"
import { runChecked } from "../tests/support/process.ts"
import { startNginx } from "../tests/support/nginx.ts"

const argument = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const seconds = argument("seconds", 15)
const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = path.join(here, ".cache", "fixture-3mbps-30s.flv")
if (!existsSync(fixture)) {
  await runChecked("ffmpeg", [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-t", "30", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "6M", "-g", "60",
    "-c:a", "aac", "-b:a", "128k", "-f", "flv", fixture
  ], { timeoutMs: 10 * 60_000 })
}

const baselineRss = process.memoryUsage().rss
const nginx = await startNginx({ applicationConfig: "record off;" }).catch(() => startNginx({}))

/** Runs n real-time publishes for `seconds`; returns CPU cores used, RSS per stream and the worst lag. */
const trial = async (n: number) => {
  const stats = Array.from({ length: n }, () => Publisher.makeStats())
  const started: Array<number> = []
  const firstDts: Array<number | undefined> = []
  const fibers = stats.map((s, i) =>
    Effect.runFork(
      Publisher.publish(nginx.url(`scale-${n}-${i}`), MediaSource.frames(fixture), {
        realtime: true,
        stats: s,
        onEvent: (e) => Effect.sync(() => { if (e._tag === "Publishing") started[i] = performance.now() })
      }).pipe(Effect.provide(layerCoroutine))
    )
  )
  await new Promise((r) => setTimeout(r, 2000))
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let worstLag = 0
  let rss = 0
  for (let t = 0; t < seconds; t++) {
    await new Promise((r) => setTimeout(r, 1000))
    rss = Math.max(rss, process.memoryUsage().rss)
    const now = performance.now()
    stats.forEach((s, i) => {
      if (started[i] === undefined || s.frames === 0) return
      firstDts[i] ??= 0
      const lag = (now - started[i]!) - (s.lastDts - firstDts[i]!)
      worstLag = Math.max(worstLag, lag)
    })
  }
  const cpu = process.cpuUsage(cpu0)
  const cores = (cpu.user + cpu.system) / 1000 / (performance.now() - t0)
  // Every stream must have been publishing all along: one that failed (refused, reset) does not count.
  const publishing = fibers.filter((f, i) => started[i] !== undefined && f.pollUnsafe() === undefined).length
  await Promise.all(fibers.map((f) => Effect.runPromise(Fiber.interrupt(f))))
  const dropped = stats.reduce((sum, s) => sum + Object.values(s.droppedFrames).reduce((a, b) => a + b, 0), 0)
  return { cores, rssPerStream: (rss - baselineRss) / n / 1e6, worstLag, dropped, publishing }
}

const ffmpegFigure = async () => {
  const server = spawnServer("ffmpeg", ["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", fixture, "-c", "copy", "-f", "flv", nginx.url("scale-ffmpeg")], {})
  await new Promise((r) => setTimeout(r, 5000))
  const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8")
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1000
  await server.stop()
  return rss
}

const rows: Array<string> = []
let best = 0
try {
  for (let n = argument("start", 25); n <= argument("max", 400); n = Math.round(n * argument("factor", 2))) {
    const r = await trial(n)
    rows.push(
      `| ${n} | ${r.cores.toFixed(2)} | ${(r.cores / n * 1000).toFixed(1)} | ${r.rssPerStream.toFixed(2)} | ` +
        `${(r.worstLag / 1000).toFixed(2)} | ${r.dropped} | ${r.publishing} |`
    )
    console.error(rows.at(-1))
    if (r.worstLag > 1000 || r.dropped > 0 || r.publishing < n) break
    best = n
  }
  const ffmpegRss = await ffmpegFigure()
  console.log(`\n${new Date().toISOString().slice(0, 10)}, Node ${process.version}, 3 Mb/s streams, ${seconds} s per trial`)
  console.log(
    "| streams | CPU (cores) | CPU per stream (millicores) | RSS per stream (MB) | worst lag (s) | frames dropped | publishing |"
  )
  console.log("|---|---|---|---|---|---|---|")
  for (const row of rows) console.log(row)
  console.log(`\nlargest N that kept real time: ${best}; ffmpeg -re -c copy: one process of ${ffmpegRss.toFixed(0)} MB RSS per stream`)
} finally {
  await nginx.stop()
  process.exit(0)
}
