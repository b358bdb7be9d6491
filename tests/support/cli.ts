/**
 * Runs the built `effect-rtmp` CLI (packages/cli/bin) as a user would, and reads its `--json` output.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { runProcess, type ProcessResult } from "./process.ts"

/** The CLI entry point (needs `npm run build`; `npm test` builds first). */
export const cliPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../packages/cli/bin/effect-rtmp.js")

/** The result of one CLI run: exit code, output, and the parsed JSON lines of stdout. */
export interface CliRun extends ProcessResult {
  readonly events: ReadonlyArray<Record<string, unknown>>
  readonly summary: Record<string, unknown> | undefined
}

/** `effect-rtmp <args>`, with stdin from a file when given. JSON lines of stdout are parsed. */
export const runCli = async (
  args: ReadonlyArray<string>,
  options: { readonly stdinFile?: string; readonly timeoutMs?: number } = {}
): Promise<CliRun> => {
  const result = await runProcess(process.execPath, [cliPath, ...args], {
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.stdinFile === undefined ? {} : { stdinFile: options.stdinFile })
  })
  return withEvents(result)
}

const withEvents = (result: ProcessResult): CliRun => {
  const events = result.stdout.split("\n").filter((line) => line.startsWith("{")).map(
    (line) => JSON.parse(line) as Record<string, unknown>
  )
  return { ...result, events, summary: events.findLast((e) => e.event === "summary") }
}

/** Single-quoted for sh. */
const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`

/**
 * `ffmpeg <ffmpegArgs> | effect-rtmp <args>`, as a user pipes an encoder into the CLI: ffmpeg writes to
 * stdout (end `ffmpegArgs` with `-f flv -`). The exit code is the CLI's.
 */
export const runCliFromFfmpeg = async (
  ffmpegArgs: ReadonlyArray<string>,
  args: ReadonlyArray<string>,
  options: { readonly timeoutMs?: number } = {}
): Promise<CliRun> => {
  const pipeline = `ffmpeg ${ffmpegArgs.map(quote).join(" ")} | ${[process.execPath, cliPath, ...args].map(quote).join(" ")}`
  return withEvents(await runProcess("sh", ["-c", pipeline], { timeoutMs: options.timeoutMs ?? 60_000 }))
}
