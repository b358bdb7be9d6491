/**
 * A private nginx with the RTMP module (`record all`) and, optionally, an RTMPS front (the `stream` module
 * terminating TLS and proxying to the RTMP port), on free 127.0.0.1 ports, for end-to-end tests.
 *
 * nginx runs in the foreground in a single process (`daemon off; master_process off;`) with its own config,
 * prefix, pid and logs in a temporary directory: it never touches the system nginx and never drops
 * privileges, so recordings land in the temporary directory whatever user runs the tests.
 */
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { freePort, LOOPBACK, makeTempDir, removeTempDir, type ServerProcess, spawnServer, tail, waitFor, waitForPorts } from "./process.ts"
import { makeCertificates, type TestCertificates } from "./tls.ts"

/** Options of {@link startNginx}. */
export interface NginxOptions {
  /** Also start the RTMPS front (TLS on its own port, proxied to the RTMP port). Default false. */
  readonly tls?: boolean | undefined
  /** The RTMP application name. Default `"live"`. */
  readonly app?: string | undefined
  /** nginx-rtmp `chunk_size` (the server's outgoing chunk size). Default 4096. */
  readonly chunkSize?: number | undefined
  /** Extra directives inside the `application` block (e.g. `"allow publish 127.0.0.1; deny publish all;"`). */
  readonly applicationConfig?: string | undefined
  /** Extra directives inside the rtmp `server` block (e.g. `"ping 1s; ping_timeout 1s;"`). */
  readonly serverConfig?: string | undefined
}

/** A running nginx started by {@link startNginx}. */
export interface NginxServer {
  /** Plain RTMP port on 127.0.0.1. */
  readonly rtmpPort: number
  /** RTMPS port on 127.0.0.1 (with `tls: true`). */
  readonly rtmpsPort: number | undefined
  readonly app: string
  /** The temporary directory holding config, logs, certificates and recordings. */
  readonly dir: string
  /** Where recordings are written: one `<streamKey>.flv` per stream key (a new publish overwrites it). */
  readonly recordDir: string
  /** The CA (PEM text) that signed the RTMPS certificate (with `tls: true`). */
  readonly caPem: string | undefined
  /** Path of that CA certificate, for `--ca FILE` (with `tls: true`). */
  readonly caFile: string | undefined
  readonly certificates: TestCertificates | undefined
  /** `rtmp://127.0.0.1:<rtmpPort>/<app>/<key>`. */
  url(key: string): string
  /** `rtmps://localhost:<rtmpsPort>/<app>/<key>`: the certificate is valid for `localhost` and `127.0.0.1`. */
  tlsUrl(key: string, host?: "localhost" | "127.0.0.1"): string
  /** The path the recording of `key` has (whether or not it exists yet). */
  recordingPath(key: string): string
  /** The recording files present now (absolute paths, sorted). */
  recordings(): Promise<ReadonlyArray<string>>
  /**
   * Wait until the recording of `key` exists and nginx has closed it (the publisher disconnected), then
   * return its path. Call after the publisher finished. Rejects after `timeoutMs` (default 10 000).
   */
  waitForRecording(key: string, options?: { timeoutMs?: number }): Promise<string>
  /** nginx's error log (level info: connects, publishes, disconnects, errors). */
  errorLog(): Promise<string>
  /** True while the nginx process runs. */
  isRunning(): boolean
  /** Stop nginx (SIGTERM, SIGKILL after 5 s), wait for it to exit, remove the temporary directory. Idempotent. */
  stop(): Promise<void>
}

const NGINX_CANDIDATES = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
const MODULE_DIRS = ["/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/usr/lib64/nginx/modules", "/usr/local/nginx/modules"]

const findNginx = (): string => {
  const fromEnv = process.env["NGINX_BIN"]
  if (fromEnv) return fromEnv
  return NGINX_CANDIDATES.find((p) => existsSync(p)) ?? "nginx"
}

const findModule = (file: string): string => {
  for (const dir of MODULE_DIRS) {
    const candidate = path.join(dir, file)
    if (existsSync(candidate)) return candidate
  }
  throw new Error(
    `nginx module ${file} not found in ${MODULE_DIRS.join(", ")}: ` +
      "install libnginx-mod-rtmp and libnginx-mod-stream (run `npm run setup:system`)"
  )
}

const renderConfig = (o: {
  dir: string
  rtmpPort: number
  rtmpsPort: number | undefined
  app: string
  recordDir: string
  chunkSize: number
  applicationConfig: string
  serverConfig: string
  certificates: TestCertificates | undefined
}): string => {
  const lines = [
    "daemon off;",
    "master_process off;",
    "worker_processes 1;",
    `pid ${path.join(o.dir, "nginx.pid")};`,
    `error_log ${path.join(o.dir, "error.log")} info;`,
    `load_module ${findModule("ngx_rtmp_module.so")};`,
    ...(o.rtmpsPort !== undefined ? [`load_module ${findModule("ngx_stream_module.so")};`] : []),
    "events { worker_connections 4096; }",
    "rtmp {",
    "  server {",
    `    listen ${LOOPBACK}:${o.rtmpPort};`,
    `    chunk_size ${o.chunkSize};`,
    `    ${o.serverConfig}`,
    `    application ${o.app} {`,
    "      live on;",
    "      record all;",
    `      record_path ${o.recordDir};`,
    "      record_unique off;",
    "      record_suffix .flv;",
    `      ${o.applicationConfig}`,
    "    }",
    "  }",
    "}"
  ]
  if (o.rtmpsPort !== undefined && o.certificates !== undefined) {
    lines.push(
      "stream {",
      "  server {",
      `    listen ${LOOPBACK}:${o.rtmpsPort} ssl;`,
      `    ssl_certificate ${o.certificates.certFile};`,
      `    ssl_certificate_key ${o.certificates.keyFile};`,
      "    ssl_protocols TLSv1.2 TLSv1.3;",
      `    proxy_pass ${LOOPBACK}:${o.rtmpPort};`,
      "  }",
      "}"
    )
  }
  return lines.join("\n") + "\n"
}

/** Is `file` open in process `pid`? (Linux: scans /proc/<pid>/fd.) */
const isOpenBy = async (pid: number, file: string): Promise<boolean> => {
  const fdDir = `/proc/${pid}/fd`
  let fds: Array<string>
  try {
    fds = await fs.readdir(fdDir)
  } catch {
    return false // process gone
  }
  for (const fd of fds) {
    try {
      if ((await fs.readlink(path.join(fdDir, fd))) === file) return true
    } catch {
      // fd closed meanwhile
    }
  }
  return false
}

/**
 * Start nginx with nginx-rtmp recording every publish to `<recordDir>/<key>.flv`, and with `tls: true` an
 * RTMPS front with a fresh CA. Resolves when every port accepts connections. Call `stop()` in `afterAll`.
 */
export const startNginx = async (options: NginxOptions = {}): Promise<NginxServer> => {
  const dir = await makeTempDir("nginx")
  try {
    const recordDir = path.join(dir, "recordings")
    await fs.mkdir(recordDir)
    const certificates = options.tls ? await makeCertificates(dir) : undefined
    const app = options.app ?? "live"
    const nginx = findNginx()
    const configFile = path.join(dir, "nginx.conf")
    let proc: ServerProcess | undefined
    let rtmpPort = 0
    let rtmpsPort: number | undefined
    // A free port can be taken by someone else before nginx binds it: retry with new ports.
    for (let attempt = 1; ; attempt++) {
      rtmpPort = await freePort()
      rtmpsPort = options.tls ? await freePort() : undefined
      await fs.writeFile(
        configFile,
        renderConfig({
          dir,
          rtmpPort,
          rtmpsPort,
          app,
          recordDir,
          chunkSize: options.chunkSize ?? 4096,
          applicationConfig: options.applicationConfig ?? "",
          serverConfig: options.serverConfig ?? "",
          certificates
        })
      )
      const started = spawnServer(nginx, ["-p", dir, "-c", configFile, "-e", path.join(dir, "error.log")])
      try {
        await waitForPorts(rtmpsPort === undefined ? [rtmpPort] : [rtmpPort, rtmpsPort], {
          timeoutMs: 10_000,
          abort: () => (started.hasExited() ? "nginx exited during startup" : undefined)
        })
        proc = started
        break
      } catch (error) {
        await started.stop()
        const log = await fs.readFile(path.join(dir, "error.log"), "utf8").catch(() => "")
        const output = `${started.output()}\n${log}`
        if (attempt < 3 && /Address already in use/.test(output)) continue
        throw new Error(
          `nginx did not start (${String(error)}): ${nginx} -p ${dir} -c ${configFile}\n` +
            `--- config ---\n${await fs.readFile(configFile, "utf8")}--- output ---\n${tail(output)}`
        )
      }
    }
    const server = proc
    const pid = server.child.pid!
    const recordingPath = (key: string) => path.join(recordDir, `${key}.flv`)
    let stopped = false
    return {
      rtmpPort,
      rtmpsPort,
      app,
      dir,
      recordDir,
      caPem: certificates?.caPem,
      caFile: certificates?.caFile,
      certificates,
      url: (key) => `rtmp://${LOOPBACK}:${rtmpPort}/${app}/${key}`,
      tlsUrl: (key, host = "localhost") => {
        if (rtmpsPort === undefined) throw new Error("startNginx: started without tls: true")
        return `rtmps://${host}:${rtmpsPort}/${app}/${key}`
      },
      recordingPath,
      recordings: async () =>
        (await fs.readdir(recordDir)).filter((f) => f.endsWith(".flv")).sort().map((f) => path.join(recordDir, f)),
      waitForRecording: async (key, waitOptions = {}) => {
        const file = recordingPath(key)
        await waitFor(
          async () => (existsSync(file) && !(await isOpenBy(pid, file)) ? true : undefined),
          `recording ${file} not finished in time`,
          { timeoutMs: waitOptions.timeoutMs ?? 10_000 }
        ).catch(async (error) => {
          const log = await fs.readFile(path.join(dir, "error.log"), "utf8").catch(() => "")
          throw new Error(
            `${String(error instanceof Error ? error.message : error)}: ` +
              `${existsSync(file) ? "nginx still has it open" : "it does not exist"}; ` +
              `recordings: [${(await fs.readdir(recordDir)).join(", ")}]\n--- nginx error.log ---\n${tail(log)}`
          )
        })
        // nginx writes with plain write(2), unbuffered: once closed, the file is complete.
        return file
      },
      errorLog: () => fs.readFile(path.join(dir, "error.log"), "utf8").catch(() => ""),
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
