/**
 * Child processes for end-to-end tests: run a command to completion with a timeout, start a long-lived
 * server child, find free loopback ports and wait for them to accept connections.
 *
 * Every long-lived child started here is registered so that it is killed (SIGKILL) when the test worker
 * exits, even if a test forgot to call `stop()` or crashed.
 */
import { type ChildProcess, spawn, type SpawnOptions } from "node:child_process"
import { createReadStream } from "node:fs"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** The only host the harness ever binds to or connects to. */
export const LOOPBACK = "127.0.0.1"

/** The outcome of {@link runProcess}. */
export interface ProcessResult {
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Exit code, or `null` when the process was ended by a signal. */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** True when the timeout fired and the process was killed. */
  readonly timedOut: boolean
  readonly durationMs: number
}

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  /** Bytes written to stdin, then stdin is closed. Without it stdin is closed at once (`/dev/null`). */
  readonly stdin?: string | Uint8Array | undefined
  /** A file streamed into stdin (e.g. an FLV for `publish -`). Exclusive with `stdin`. */
  readonly stdinFile?: string | undefined
  /** Kill (SIGTERM, then SIGKILL after 2 s) after this many milliseconds. Default 60 000. */
  readonly timeoutMs?: number | undefined
  readonly cwd?: string | undefined
  /** Added to (not replacing) `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

/**
 * Run a command to completion and capture its stdout, stderr and exit status. Never rejects for a
 * non-zero exit or a timeout (inspect `code` / `timedOut`); rejects only when the command cannot be
 * started at all (e.g. not installed), with a message that says so.
 *
 * Use it for CLI tests: `const r = await runProcess("node", [cliPath, "publish", file, url, "--json"])`.
 */
export const runProcess = async (
  command: string,
  args: ReadonlyArray<string>,
  options: RunProcessOptions = {}
): Promise<ProcessResult> => {
  const started = Date.now()
  const useStdin = options.stdin !== undefined || options.stdinFile !== undefined
  const child = spawn(command, [...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: [useStdin ? "pipe" : "ignore", "pipe", "pipe"]
  })
  const stdout: Array<Buffer> = []
  const stderr: Array<Buffer> = []
  child.stdout!.on("data", (chunk: Buffer) => stdout.push(chunk))
  child.stderr!.on("data", (chunk: Buffer) => stderr.push(chunk))
  if (useStdin) {
    // The child may exit before reading all of stdin (that is a legitimate test outcome): ignore EPIPE.
    child.stdin!.on("error", () => {})
    if (options.stdinFile !== undefined) {
      createReadStream(options.stdinFile).on("error", () => child.stdin!.destroy()).pipe(child.stdin!)
    } else {
      child.stdin!.end(options.stdin)
    }
  }
  let timedOut = false
  const timeoutMs = options.timeoutMs ?? 60_000
  const timer = setTimeout(() => {
    timedOut = true
    child.kill("SIGTERM")
    setTimeout(() => child.kill("SIGKILL"), 2_000).unref()
  }, timeoutMs)
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          error.code === "ENOENT"
            ? new Error(`cannot run "${command}": not found on PATH (run \`npm run setup:system\`)`)
            : error
        )
      )
      child.once("close", (code, signal) => resolve([code, signal]))
    })
    return {
      command,
      args,
      code,
      signal,
      stdout: Buffer.concat(stdout).toString("utf8"),
      stderr: Buffer.concat(stderr).toString("utf8"),
      timedOut,
      durationMs: Date.now() - started
    }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Like {@link runProcess} but rejects unless the process exits with code 0; the error carries the
 * command line, exit status and the tail of stderr. Use for tools that must succeed (ffmpeg, openssl).
 */
export const runChecked = async (
  command: string,
  args: ReadonlyArray<string>,
  options: RunProcessOptions = {}
): Promise<ProcessResult> => {
  const result = await runProcess(command, args, options)
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")}\nexited with ${
        result.timedOut ? `a timeout after ${options.timeoutMs ?? 60_000} ms` : `code ${result.code} signal ${result.signal}`
      }\n--- stderr (tail) ---\n${tail(result.stderr)}`
    )
  }
  return result
}

/** The last `lines` lines of a text, for error messages. */
export const tail = (text: string, lines = 30): string => text.trimEnd().split("\n").slice(-lines).join("\n")

// ---------------------------------------------------------------------------------------------------------
// Long-lived children
// ---------------------------------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>()
let exitHookInstalled = false

const installExitHook = () => {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.once("exit", () => {
    for (const child of liveChildren) {
      try {
        child.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
  })
}

/** A long-lived child started by {@link spawnServer}. */
export interface ServerProcess {
  readonly child: ChildProcess
  /** Everything the child wrote to stdout and stderr so far (for diagnostics). */
  output(): string
  /** Resolves when the child has exited (immediately if it already has). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** True once the child has exited. */
  hasExited(): boolean
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 000); resolves when the child is gone. Idempotent. */
  stop(graceMs?: number): Promise<void>
}

/**
 * Start a long-lived child (a server) whose output is collected, which is killed when the test worker exits.
 * `spawnOptions.stdio` defaults to `["ignore", "pipe", "pipe"]`; pass `"ipc"` as a fourth entry for `fork`-like
 * messaging.
 */
export const spawnServer = (
  command: string,
  args: ReadonlyArray<string>,
  spawnOptions: SpawnOptions = {}
): ServerProcess => {
  installExitHook()
  const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"], ...spawnOptions })
  liveChildren.add(child)
  const chunks: Array<string> = []
  let size = 0
  const collect = (chunk: Buffer) => {
    chunks.push(chunk.toString("utf8"))
    size += chunk.length
    while (size > 1_000_000 && chunks.length > 1) size -= chunks.shift()!.length
  }
  child.stdout?.on("data", collect)
  child.stderr?.on("data", collect)
  let exitedFlag = false
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      exitedFlag = true
      liveChildren.delete(child)
      resolve({ code, signal })
    }
    child.once("exit", done)
    child.once("error", (error) => {
      chunks.push(`\n[spawn error] ${String(error)}\n`)
      done(null, null)
    })
  })
  const stop = async (graceMs = 5_000) => {
    if (!exitedFlag) {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
      await exited
      clearTimeout(timer)
    }
  }
  return { child, output: () => chunks.join(""), exited, hasExited: () => exitedFlag, stop }
}

// ---------------------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------------------

/**
 * A TCP port that is free on 127.0.0.1 right now (the OS picks it). Another process could take it before
 * the caller binds it; the server starters here retry on a new port when that happens.
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once("error", reject)
    server.listen(0, LOOPBACK, () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

/** A test's own TCP server listening on 127.0.0.1. */
export interface LoopbackListener {
  readonly port: number
  /** Destroys every socket of `sockets` and stops listening. */
  readonly close: () => Promise<void>
}

/** Starts `server` on a free 127.0.0.1 port; `sockets` are the connections its `close` destroys. */
export const listenOnLoopback = async (server: net.Server, sockets: ReadonlySet<net.Socket>): Promise<LoopbackListener> => {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, LOOPBACK, () => resolve())
  })
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}

/** True when a TCP connection to 127.0.0.1:`port` is accepted. */
export const canConnect = (port: number, timeoutMs = 1_000): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port })
    const finish = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => finish(false))
    socket.once("connect", () => finish(true))
    socket.once("error", () => finish(false))
  })

/**
 * Wait until every port accepts connections on 127.0.0.1. Rejects after `timeoutMs`, or at once when
 * `abort()` (e.g. "the server process exited") returns an error message.
 */
export const waitForPorts = async (
  ports: ReadonlyArray<number>,
  options: { timeoutMs?: number; abort?: () => string | undefined } = {}
): Promise<void> => {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  for (const port of ports) {
    for (;;) {
      const reason = options.abort?.()
      if (reason !== undefined) throw new Error(reason)
      if (await canConnect(port)) break
      if (Date.now() > deadline) throw new Error(`port 127.0.0.1:${port} did not accept connections in time`)
      await sleep(25)
    }
  }
}

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Poll `check` until it returns a value other than `undefined`, or reject with `message` after `timeoutMs`.
 */
export const waitFor = async <A>(
  check: () => Promise<A | undefined> | A | undefined,
  message: string | (() => string),
  options: { timeoutMs?: number; intervalMs?: number } = {}
): Promise<A> => {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(typeof message === "string" ? message : message())
    await sleep(options.intervalMs ?? 25)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------------------------

/**
 * A fresh temporary directory for one test or server. Set `EFFECT_RTMP_KEEP_TMP=1` to keep temporary
 * directories after the run (their paths are printed when removed would have happened).
 */
export const makeTempDir = (prefix: string): Promise<string> =>
  fs.mkdtemp(path.join(os.tmpdir(), `effect-rtmp-${prefix}-`))

/** Remove a directory made by {@link makeTempDir}, unless `EFFECT_RTMP_KEEP_TMP` is set. */
export const removeTempDir = async (dir: string): Promise<void> => {
  if (process.env["EFFECT_RTMP_KEEP_TMP"]) {
    console.log(`[harness] keeping ${dir}`)
    return
  }
  await fs.rm(dir, { recursive: true, force: true })
}
