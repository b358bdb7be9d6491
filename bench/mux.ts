/**
 * The mux path alone: media frames -> RTMP messages (FlvMuxer) -> chunk bytes (ChunkEncoder) into a null
 * sink, no I/O. Prints bytes per second and heap bytes allocated per frame.
 *
 *   npm run bench:mux -- [--seconds 120] [--rounds 10]
 *
 * Frames come from the throughput fixture (bench/.cache, made by bench/throughput.ts or here), demuxed
 * once into memory before timing. Allocation is the heap growth over one round with the young generation
 * made large enough that no collection runs in between (node --max-semi-space-size, --expose-gc).
 */
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ChunkEncoder, FlvMuxer, type MediaFrame, MediaSource } from "@effect-rtmp/core"
import { Effect, Stream } from "effect"
import { runChecked } from "../tests/support/process.ts"

const argument = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : fallback
}
const seconds = argument("seconds", 120)
const rounds = argument("rounds", 10)
const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = path.join(here, ".cache", `fixture-720p-${seconds}s.flv`)
if (!existsSync(fixture)) {
  await runChecked(process.execPath, [path.join(here, "throughput.ts"), "--runs", "0", "--seconds", String(seconds)], { timeoutMs: 30 * 60_000 })
}

const frames: ReadonlyArray<MediaFrame> = await Effect.runPromise(Stream.runCollect(MediaSource.frames(fixture)))
const payloadBytes = frames.reduce((n, f) => n + f.payload.length, 0)

/** One pass over every frame; returns the bytes produced (header pieces + payload slices). */
const round = (chunkSize: number) => {
  const encoder = ChunkEncoder.make({ chunkSize })
  let bytes = 0
  for (const frame of frames) {
    for (const piece of encoder.encode(FlvMuxer.toMessage(frame, 1))) bytes += piece.length
  }
  return bytes
}

const gc = (globalThis as { gc?: () => void }).gc
console.log(`${frames.length} frames, ${(payloadBytes / 1e6).toFixed(1)} MB of payload, ${rounds} rounds per chunk size`)
console.log("| chunk size | MB/s | frames/s | heap bytes / frame |")
console.log("|---|---|---|---|")
for (const chunkSize of [4096, 65536]) {
  round(chunkSize) // warm up
  gc?.()
  const before = process.memoryUsage().heapUsed
  round(chunkSize)
  const allocated = process.memoryUsage().heapUsed - before
  const started = process.hrtime.bigint()
  let bytes = 0
  for (let i = 0; i < rounds; i++) bytes += round(chunkSize)
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9
  console.log(`| ${chunkSize} | ${(bytes / elapsed / 1e6).toFixed(0)} | ${(frames.length * rounds / elapsed).toFixed(0)} | ${gc === undefined ? "n/a (run with --expose-gc)" : (allocated / frames.length).toFixed(0)} |`)
}
