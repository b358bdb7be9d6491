// Long fuzz run of the decoders of what a server sends (issue 3: hostile or broken servers), outside CI.
//
//   npm run fuzz -- --seconds 60          run for a minute (the default)
//   npm run fuzz -- --runs 100000         or a number of inputs (whichever limit comes first)
//   npm run fuzz -- --seed 42             the first batch's seed (default: from the clock, printed)
//   npm run fuzz -- --replay chunks:42:30:7   rerun one input: kind:batch seed:size:index, as printed
//   options: --size N (largest generation size, default 80), --kinds chunks,amf0,... , --src (the sources
//   instead of the built package), --json (the summary as one JSON line)
//
// It runs the scenarios of the CI property tests (packages/core/test/support/fuzzCases.ts, loaded with
// Node's type stripping) with fresh seeds and larger sizes against the built package (@effect-rtmp/core):
// random bytes and mutated valid chunk streams into ChunkDecoder (three fragmentations each, limits
// checked after every push), random and mutated AMF0 into Amf0.decode, Commands.parse and the protocol
// control parsers. It prints the inputs tried, the bytes fed and the ProtocolErrors by reason; a broken
// contract (a throw, an untyped failure, a limit passed, fragmentations that disagree) or an input slower
// than --slow ms (default 2000) prints its replay and exits 1.
import { Arbitrary, Effect } from "effect"

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? fallback : args[i + 1]
}
const flag = (name) => args.includes(`--${name}`)

const seconds = Number(option("seconds", option("runs", undefined) === undefined ? "60" : "Infinity"))
const runs = Number(option("runs", "Infinity"))
const maxSize = Number(option("size", "80"))
const slowMs = Number(option("slow", "2000"))
const firstSeed = Number(option("seed", String(Date.now() % 1_000_000_000)))
const replay = option("replay", undefined)
const batchSize = 40

const modules = flag("src")
  ? {
    Amf0: await import("../packages/core/src/Amf0.ts"),
    ChunkDecoder: await import("../packages/core/src/ChunkDecoder.ts"),
    ChunkEncoder: await import("../packages/core/src/ChunkEncoder.ts"),
    Commands: await import("../packages/core/src/Commands.ts"),
    ProtocolControl: await import("../packages/core/src/ProtocolControl.ts"),
    ProtocolError: (await import("../packages/core/src/RtmpError.ts")).ProtocolError
  }
  : await import("@effect-rtmp/core").then((core) => ({
    Amf0: core.Amf0,
    ChunkDecoder: core.ChunkDecoder,
    ChunkEncoder: core.ChunkEncoder,
    Commands: core.Commands,
    ProtocolControl: core.ProtocolControl,
    ProtocolError: core.ProtocolError
  }))
const { FuzzFailure, kinds } = await import("../packages/core/test/support/fuzzCases.ts")

const kindNames = (option("kinds", undefined)?.split(",") ?? Object.keys(kinds))
for (const name of kindNames) {
  if (!(name in kinds)) {
    console.error(`unknown kind ${name}; kinds: ${Object.keys(kinds).join(", ")}`)
    process.exit(2)
  }
}

/** The inputs of one batch: `count` scenarios of a kind, from a seed, at a size. */
const batch = (kind, seed, size) =>
  Effect.runSync(Arbitrary.sampleEffect(kinds[kind].arbitrary, { count: batchSize, size, seed }))

const show = (value) =>
  JSON.stringify(value, (_, v) =>
    v === undefined ? "<undefined>" : typeof v === "number" && !Number.isFinite(v) ? String(v) : Object.is(v, -0) ? "-0" : v)

const report = (kind, seed, size, index, scenario, reason) => {
  console.error(`\nFINDING in ${kind}: ${reason}`)
  console.error(`replay: npm run fuzz -- --replay ${kind}:${seed}:${size}:${index}`)
  console.error(`scenario: ${show(scenario)}`)
}

if (replay !== undefined) {
  const [kind, seed, size, index] = replay.split(":")
  const scenario = batch(kind, Number(seed), Number(size))[Number(index)]
  console.log(`scenario: ${show(scenario)}`)
  const t0 = performance.now()
  const outcome = kinds[kind].run(modules, scenario)
  console.log(`outcome (${(performance.now() - t0).toFixed(1)} ms): ${show(outcome)}`)
  process.exit(0)
}

const normalize = (reason) => reason.replace(/0x[0-9a-f]+|\b\d+\b/gi, "N")

const started = performance.now()
const deadline = started + seconds * 1000
const stats = Object.fromEntries(kindNames.map((k) => [k, { inputs: 0, bytes: 0, decoded: 0, ok: 0 }]))
const reasons = new Map()
let inputs = 0
let bytes = 0
let slowest = { ms: 0, replay: "" }
let lastLine = started

console.log(`fuzz: seed ${firstSeed}, kinds ${kindNames.join(",")}, sizes up to ${maxSize}, ${
  Number.isFinite(runs) ? `${runs} inputs` : `${seconds} s`
}, against ${flag("src") ? "the sources" : "@effect-rtmp/core (dist)"}`)

outer: for (let b = 0;; b++) {
  const kind = kindNames[b % kindNames.length]
  const seed = firstSeed + b
  // Sizes cycle from small to maxSize: small inputs reach the corners, large ones the limits.
  const size = 5 + ((b * 7) % Math.max(1, maxSize - 4))
  const scenarios = batch(kind, seed, size)
  for (let i = 0; i < scenarios.length; i++) {
    if (inputs >= runs || performance.now() >= deadline) break outer
    const t0 = performance.now()
    let outcome
    try {
      outcome = kinds[kind].run(modules, scenarios[i])
    } catch (e) {
      report(kind, seed, size, i, scenarios[i], e instanceof FuzzFailure ? e.message : `the harness threw: ${e?.stack ?? e}`)
      process.exit(1)
    }
    const ms = performance.now() - t0
    if (ms > slowest.ms) slowest = { ms, replay: `${kind}:${seed}:${size}:${i}` }
    if (ms > slowMs) {
      report(kind, seed, size, i, scenarios[i], `one input took ${ms.toFixed(0)} ms (over --slow ${slowMs})`)
      process.exit(1)
    }
    inputs++
    bytes += outcome.bytes
    const s = stats[kind]
    s.inputs++
    s.bytes += outcome.bytes
    s.decoded += outcome.decoded
    if (outcome.errors.length === 0) s.ok++
    for (const reason of outcome.errors) {
      const key = `${kind}: ${normalize(reason)}`
      reasons.set(key, (reasons.get(key) ?? 0) + 1)
    }
  }
  if (performance.now() - lastLine > 10_000) {
    lastLine = performance.now()
    console.log(`  ${((lastLine - started) / 1000).toFixed(0)} s: ${inputs} inputs, ${(bytes / 1e6).toFixed(1)} MB`)
  }
}

const duration = (performance.now() - started) / 1000
const summary = {
  seed: firstSeed,
  seconds: Number(duration.toFixed(1)),
  inputs,
  bytes,
  findings: 0,
  slowestMs: Number(slowest.ms.toFixed(1)),
  slowest: slowest.replay,
  kinds: stats,
  errors: Object.fromEntries([...reasons].sort((a, b) => b[1] - a[1]))
}
if (flag("json")) {
  console.log(JSON.stringify(summary))
} else {
  console.log(`\n${inputs} inputs, ${(bytes / 1e6).toFixed(1)} MB fed, ${duration.toFixed(1)} s, no findings`)
  for (const [kind, s] of Object.entries(stats)) {
    console.log(`  ${kind.padEnd(12)} ${String(s.inputs).padStart(8)} inputs  ${(s.bytes / 1e6).toFixed(1).padStart(8)} MB  ` +
      `${String(s.decoded).padStart(9)} decoded  ${String(s.ok).padStart(7)} without error`)
  }
  console.log(`  slowest input ${slowest.ms.toFixed(1)} ms (--replay ${slowest.replay})`)
  console.log(`ProtocolErrors by reason:`)
  for (const [reason, n] of summary.errors ? Object.entries(summary.errors) : []) {
    console.log(`  ${String(n).padStart(8)}  ${reason}`)
  }
}
