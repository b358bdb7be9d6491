/**
 * node-media-server 4.x (the npm package, a second independent RTMP server implementation) in a child
 * process on free 127.0.0.1 ports, recording every publish to FLV, for end-to-end tests.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { freePort, LOOPBACK, makeTempDir, removeTempDir, type ServerProcess, spawnServer, tail, waitFor, waitForPorts } from "./process.ts"
import { makeCertificates, type TestCertificates } from "./tls.ts"

const RUNNER = path.join(path.dirname(fileURLToPath(import.meta.url)), "nms-runner.mjs")

/** Options of {@link startNodeMediaServer}. */
export interface NodeMediaServerOptions {
  /** Also listen for RTMPS (Node's TLS) with a fresh CA. Default false. */
  readonly tls?: boolean | undefined
  /**
   * How long NMS keeps a publish open after the publisher disconnects, waiting for the same client to resume
   * into the same recording (NMS's own default is 30 000). Default 0: the recording closes at once.
   */
  readonly publishGraceMs?: number | undefined
}

/** A message from the server child. */
export interface NmsEvent {
  readonly event: "ready" | "postPublish" | "donePublish" | "recordClosed"
  /** `/<app>/<key>` */
  readonly streamPath?: string
  /** For `recordClosed`: the recording. */
  readonly filePath?: string
}

/** A running node-media-server started by {@link startNodeMediaServer}. */
export interface NodeMediaServerInstance {
  readonly rtmpPort: number
  readonly rtmpsPort: number | undefined
  readonly dir: string
  /** Recordings go to `<recordDir>/<app>/<key>/<unix ms>.flv`, one per publish. */
  readonly recordDir: string
  readonly caPem: string | undefined
  readonly caFile: string | undefined
  readonly certificates: TestCertificates | undefined
  /** `rtmp://127.0.0.1:<rtmpPort>/<app>/<key>`. NMS accepts any app; app and key must match `[A-Za-z0-9_-]+`. */
  url(key: string, app?: string): string
  /** `rtmps://localhost:<rtmpsPort>/<app>/<key>`. */
  tlsUrl(key: string, app?: string, host?: "localhost" | "127.0.0.1"): string
  /** Events received so far (publishes, recordings closed). */
  events(): ReadonlyArray<NmsEvent>
  /**
   * Wait until a recording of `<app>/<key>` has been closed (the publish ended), then return its path (the
   * latest, if several). Call after the publisher finished. Rejects after `timeoutMs` (default 10 000).
   */
  waitForRecording(key: string, options?: { app?: string; timeoutMs?: number }): Promise<string>
  /** Server log output so far. */
  output(): string
  isRunning(): boolean
  /** Stop the server (finalizing recordings), wait for exit, remove the temporary directory. Idempotent. */
  stop(): Promise<void>
}

/**
 * Start node-media-server (recording on, HTTP/admin/API off) on free loopback ports. Resolves when it
 * accepts connections and its record service runs. Call `stop()` in `afterAll`.
 */
export const startNodeMediaServer = async (options: NodeMediaServerOptions = {}): Promise<NodeMediaServerInstance> => {
  const dir = await makeTempDir("nms")
  try {
    const recordDir = path.join(dir, "recordings")
    const dataDir = path.join(dir, "data")
    await fs.mkdir(recordDir)
    await fs.mkdir(dataDir)
    const certificates = options.tls ? await makeCertificates(dir) : undefined
    const events: Array<NmsEvent> = []
    let proc: ServerProcess | undefined
    let rtmpPort = 0
    let rtmpsPort: number | undefined
    for (let attempt = 1; ; attempt++) {
      rtmpPort = await freePort()
      rtmpsPort = options.tls ? await freePort() : undefined
      const runnerOptions = {
        rtmpPort,
        rtmpsPort,
        keyFile: certificates?.keyFile,
        certFile: certificates?.certFile,
        recordDir,
        dataDir,
        graceMs: options.publishGraceMs ?? 0
      }
      const started = spawnServer(process.execPath, [RUNNER, JSON.stringify(runnerOptions)], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe", "ipc"]
      })
      started.child.on("message", (message: NmsEvent) => events.push(message))
      try {
        const abort = () => (started.hasExited() ? "node-media-server exited during startup" : undefined)
        await waitFor(() => (events.some((e) => e.event === "ready") ? true : abort() ? true : undefined), "node-media-server not ready in time")
        await waitForPorts(rtmpsPort === undefined ? [rtmpPort] : [rtmpPort, rtmpsPort], { abort })
        proc = started
        break
      } catch (error) {
        await started.stop()
        if (attempt < 3 && /already in use/.test(started.output())) continue
        throw new Error(`node-media-server did not start (${String(error)})\n--- output ---\n${tail(started.output())}`)
      }
    }
    const server = proc
    let stopped = false
    const streamPath = (key: string, app = "live") => `/${app}/${key}`
    return {
      rtmpPort,
      rtmpsPort,
      dir,
      recordDir,
      caPem: certificates?.caPem,
      caFile: certificates?.caFile,
      certificates,
      url: (key, app = "live") => `rtmp://${LOOPBACK}:${rtmpPort}/${app}/${key}`,
      tlsUrl: (key, app = "live", host = "localhost") => {
        if (rtmpsPort === undefined) throw new Error("startNodeMediaServer: started without tls: true")
        return `rtmps://${host}:${rtmpsPort}/${app}/${key}`
      },
      events: () => events,
      waitForRecording: async (key, waitOptions = {}) => {
        const wanted = streamPath(key, waitOptions.app)
        const found = await waitFor(
          () => events.filter((e) => e.event === "recordClosed" && e.streamPath === wanted).at(-1)?.filePath,
          () =>
            `node-media-server: no closed recording of ${wanted}; events: ${JSON.stringify(events)}\n` +
            `--- output ---\n${tail(server.output())}`,
          { timeoutMs: waitOptions.timeoutMs ?? 10_000 }
        )
        return path.resolve(dir, found)
      },
      output: () => server.output(),
      isRunning: () => !server.hasExited(),
      stop: async () => {
        if (stopped) return
        stopped = true
        await server.stop()
        await removeTempDir(dir)
      }
    }
  } catch (error) {
    await removeTempDir(dir)
    throw error
  }
}
