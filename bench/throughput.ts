/**
 * Throughput: the effect-rtmp CLI against `ffmpeg -c copy -f flv` publishing the same FLV to the same
 * local nginx-rtmp, over RTMP and RTMPS, for each transport. Runs alternate (ffmpeg, coroutine, blocking,
 * ffmpeg, ...) and the table shows medians of wall and CPU (user + sys) time and their ratios to ffmpeg.
 *
 *   npm run bench:throughput -- [--runs 5] [--seconds 120]
 *
 * The fixture (testsrc2 1280x720 30 fps, libx264 ultrafast 6 Mb/s, AAC 128 kb/s) is made once by ffmpeg
 * into bench/.cache. Needs what the tests need (`npm run setup:system`) and a build (`npm run build`).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { cliPath } from "../tests/support/cli.ts"
import { runChecked } from "../tests/support/process.ts"
import { startNginx } from "../tests/support/nginx.ts"

const argument = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const runs = argument("runs", 5)
const seconds = argument("seconds", 120)

const here = path.dirname(fileURLToPath(import.meta.url))
const cache = path.join(here, ".cache")
mkdirSync(cache, { recursive: true })
const fixture = path.join(cache, `fixture-720p-${seconds}s.flv`)
if (!existsSync(fixture)) {
  console.error(`making ${fixture} (once)...`)
  await runChecked("ffmpeg", [
    "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "6M", "-maxrate", "6M", "-bufsize", "12M",
    "-g", "60", "-c:a", "aac", "-b:a", "128k", "-f", "flv", fixture
  ], { timeoutMs: 30 * 60_000 })
}
const size = statSync(fixture).size

/** Wall and CPU seconds of one command, read from GNU time. */
const timed = async (command: string, args: ReadonlyArray<string>) => {
  const out = path.join(cache, "time.txt")
  await runChecked("/usr/bin/time", ["-f", "%e %U %S", "-o", out, command, ...args], { timeoutMs: 10 * 60_000 })
  const [wall, user, sys] = readFileSync(out, "utf8").trim().split(/\s+/).map(Number)
  return { wall: wall!, cpu: user! + sys! }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const nginx = await startNginx({ tls: true })
const rows: Array<string> = []
try {
  for (const scheme of ["rtmp", "rtmps"] as const) {
    const url = (key: string) => scheme === "rtmp" ? nginx.url(key) : nginx.tlsUrl(key)
    const clients = {
      ffmpeg: (key: string) => timed("ffmpeg", [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-i", fixture, "-c", "copy",
        ...(scheme === "rtmps" ? ["-tls_verify", "1", "-ca_file", nginx.caFile!] : []), "-f", "flv", url(key)
      ]),
      coroutine: (key: string) => timed(process.execPath, [cliPath, "publish", fixture, url(key), "--transport", "coroutine", ...(scheme === "rtmps" ? ["--ca", nginx.caFile!] : [])]),
      blocking: (key: string) => timed(process.execPath, [cliPath, "publish", fixture, url(key), "--transport", "blocking", ...(scheme === "rtmps" ? ["--ca", nginx.caFile!] : [])])
    }
    const results: Record<string, Array<{ wall: number; cpu: number }>> = { ffmpeg: [], coroutine: [], blocking: [] }
    for (let i = 0; i < runs; i++) {
      for (const [name, run] of Object.entries(clients)) {
        results[name]!.push(await run(`bench-${scheme}-${name}-${i}`))
        // Deleted once closed: gigabytes of recordings waiting for writeback would slow the later runs
        rmSync(await nginx.waitForRecording(`bench-${scheme}-${name}-${i}`, { timeoutMs: 60_000 }))
      }
    }
    const base = { wall: median(results.ffmpeg!.map((r) => r.wall)), cpu: median(results.ffmpeg!.map((r) => r.cpu)) }
    for (const [name, list] of Object.entries(results)) {
      const wall = median(list.map((r) => r.wall))
      const cpu = median(list.map((r) => r.cpu))
      rows.push(`| ${scheme} | ${name} | ${wall.toFixed(2)} | ${cpu.toFixed(2)} | ${(wall / base.wall).toFixed(2)} | ${(cpu / base.cpu).toFixed(2)} | ${(size / wall / 1e6).toFixed(0)} |`)
    }
  }
} finally {
  await nginx.stop()
}

console.log(`\n${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? "cpu"} × ${os.cpus().length}, Node ${process.version}, ` +
  `${(size / 1e6).toFixed(1)} MB FLV (${seconds} s 720p30 H.264 6 Mb/s + AAC), medians of ${runs} alternating runs\n`)
console.log("| scheme | client | wall s | CPU s | wall / ffmpeg | CPU / ffmpeg | MB/s |")
console.log("|---|---|---|---|---|---|---|")
for (const row of rows) console.log(row)
