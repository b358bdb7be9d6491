#!/usr/bin/env node
// Makes sure the system tools the end-to-end tests need are installed (Debian/Ubuntu, via apt):
//   nginx (nginx-light) with libnginx-mod-rtmp and libnginx-mod-stream, ffmpeg, openssl.
//
// Run by `npm test` (pretest) and `npm run setup:system`. Plain Node ESM, no dependencies (Node >= 20).
// - Installs only what is missing: `apt-get update`, then
//   `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends <missing>`,
//   as root, or through sudo when not root.
// - Never leaves a system nginx running: the tests start their own nginx instances with their own
//   config (-p/-c) on free loopback ports. While installing, a temporary /usr/sbin/policy-rc.d keeps
//   the package from starting the nginx service; if nginx got started anyway, it is stopped.
// - EFFECT_RTMP_SKIP_SYSTEM_DEPS=1 skips everything (e.g. when the tools come from elsewhere).
// Prints one line per action; exits non-zero with a clear message on failure.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"

const TAG = "ensure-system-deps:"
const log = (message) => console.log(`${TAG} ${message}`)
const fail = (message, output) => {
  console.error(`${TAG} ERROR: ${message}`)
  if (output) console.error(output.trimEnd().split("\n").slice(-40).join("\n"))
  console.error(`${TAG} the end-to-end tests need: nginx with the rtmp and stream modules, ffmpeg, openssl`)
  process.exit(1)
}

// Each requirement is satisfied by the first alternative that is installed; when none is, the first
// alternative apt can install is installed (nginx-light is gone from newer Debian releases: use nginx).
const REQUIREMENTS = [
  { name: "nginx", alternatives: ["nginx-light", "nginx", "nginx-core", "nginx-full", "nginx-extras"] },
  { name: "nginx rtmp module", alternatives: ["libnginx-mod-rtmp"] },
  { name: "nginx stream module", alternatives: ["libnginx-mod-stream"] },
  { name: "ffmpeg", alternatives: ["ffmpeg"] },
  { name: "openssl", alternatives: ["openssl"] }
]

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options })
  return {
    ok: result.status === 0,
    status: result.status,
    missing: result.error?.code === "ENOENT",
    output: `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`
  }
}

const onPath = (command) =>
  (process.env.PATH ?? "").split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, command)))

const findExecutable = (command, extraDirs) =>
  [...extraDirs, ...(process.env.PATH ?? "").split(path.delimiter)].map((dir) => path.join(dir, command)).find((p) => existsSync(p))

const isInstalled = (pkg) => {
  const result = run("dpkg-query", ["-W", "-f=${Status}", pkg])
  return result.ok && /install ok installed/.test(result.output)
}

const hasCandidate = (pkg) => {
  const result = run("apt-cache", ["policy", pkg])
  const candidate = /Candidate:\s*(\S+)/.exec(result.output)
  return result.ok && candidate !== null && candidate[1] !== "(none)"
}

const nginxModuleDirs = ["/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/usr/lib64/nginx/modules"]
const hasNginxModule = (file) => nginxModuleDirs.some((dir) => existsSync(path.join(dir, file)))

/** What the tests actually use, checked after installing (or when there is no dpkg). */
const checkTools = () => {
  const problems = []
  const nginx = findExecutable("nginx", ["/usr/sbin", "/usr/local/sbin"])
  if (!nginx) problems.push("nginx not found")
  else if (!run(nginx, ["-v"]).ok) problems.push(`${nginx} -v failed`)
  if (!hasNginxModule("ngx_rtmp_module.so")) problems.push(`ngx_rtmp_module.so not in ${nginxModuleDirs.join(", ")}`)
  if (!hasNginxModule("ngx_stream_module.so")) problems.push(`ngx_stream_module.so not in ${nginxModuleDirs.join(", ")}`)
  const ffmpeg = run("ffmpeg", ["-hide_banner", "-encoders"])
  if (!ffmpeg.ok) problems.push("ffmpeg not found or not working")
  else {
    if (!/libx264/.test(ffmpeg.output)) problems.push("ffmpeg has no libx264 encoder")
    if (!/\baac\b/.test(ffmpeg.output)) problems.push("ffmpeg has no aac encoder")
  }
  if (!run("openssl", ["version"]).ok) problems.push("openssl not found")
  return problems
}

const main = () => {
  if (process.env.EFFECT_RTMP_SKIP_SYSTEM_DEPS) {
    log("EFFECT_RTMP_SKIP_SYSTEM_DEPS is set: skipping")
    return
  }
  if (process.platform !== "linux" || !onPath("dpkg-query")) {
    const problems = checkTools()
    if (problems.length > 0) {
      fail(`not a Debian-like system (no dpkg), so cannot install automatically; missing: ${problems.join("; ")}`)
    }
    log("no dpkg, but nginx (rtmp, stream), ffmpeg and openssl are present")
    return
  }

  const missing = REQUIREMENTS.filter((r) => !r.alternatives.some(isInstalled))
  for (const r of REQUIREMENTS) {
    if (!missing.includes(r)) log(`${r.name}: installed (${r.alternatives.find(isInstalled)})`)
  }
  if (missing.length === 0) {
    const problems = checkTools()
    if (problems.length > 0) fail(`packages are installed but: ${problems.join("; ")}`)
    log("all system dependencies present")
    return
  }

  // Root, or sudo.
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0
  let privileged
  if (isRoot) privileged = (command, args, env = {}) => run(command, args, { env: { ...process.env, ...env } })
  else if (onPath("sudo")) {
    log("not root: using sudo")
    privileged = (command, args, env = {}) =>
      run("sudo", [...Object.entries(env).map(([k, v]) => `${k}=${v}`), command, ...args], { stdio: ["inherit", "pipe", "pipe"] })
  } else {
    fail(
      `missing ${missing.map((r) => r.name).join(", ")}, and this is not root and there is no sudo. As root, run:\n` +
        `  apt-get update && apt-get install -y --no-install-recommends ${missing.map((r) => r.alternatives[0]).join(" ")}`
    )
  }

  const aptEnv = { DEBIAN_FRONTEND: "noninteractive" }
  const lockWait = ["-o", "DPkg::Lock::Timeout=600"]
  log("apt-get update")
  const update = privileged("apt-get", [...lockWait, "update"], aptEnv)
  if (!update.ok) fail("apt-get update failed", update.output)

  const packages = missing.map((r) => {
    const pkg = r.alternatives.find(hasCandidate)
    if (!pkg) fail(`no installable package for ${r.name} (tried ${r.alternatives.join(", ")})`)
    return pkg
  })

  // Keep the package from starting the system nginx (postinst -> invoke-rc.d / deb-systemd-invoke honour it).
  const policy = "/usr/sbin/policy-rc.d"
  let addedPolicy = false
  if (!existsSync(policy)) {
    const wrote = privileged("sh", ["-c", `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod 755 ${policy}`])
    if (wrote.ok) {
      addedPolicy = true
      log(`added a temporary ${policy} so that installing does not start services`)
    } else log(`could not write ${policy} (continuing; nginx will be stopped if it starts)`)
  }
  let install
  try {
    log(`apt-get install -y --no-install-recommends ${packages.join(" ")}`)
    install = privileged("apt-get", [...lockWait, "install", "-y", "--no-install-recommends", ...packages], aptEnv)
  } finally {
    if (addedPolicy) {
      privileged("rm", ["-f", policy])
      log(`removed the temporary ${policy}`)
    }
  }
  if (!install.ok) fail(`apt-get install ${packages.join(" ")} failed`, install.output)

  // If the system nginx service was started (no policy-rc.d honoured), stop it: it would hold port 80 for
  // nothing and the tests never use it. Only for an nginx this run installed: never touch one the user runs.
  if (missing.some((r) => r.name === "nginx")) {
    if (nginxServiceRunning()) {
      log("stopping the system nginx service the package started")
      privileged("service", ["nginx", "stop"])
      if (onPath("systemctl")) privileged("systemctl", ["stop", "nginx"])
      if (nginxServiceRunning()) {
        const pid = readPid()
        if (pid) privileged("kill", [String(pid)])
      }
    }
    if (onPath("systemctl")) {
      const disabled = privileged("systemctl", ["disable", "nginx"])
      if (disabled.ok) log("disabled the nginx service at boot")
    }
  }

  const stillMissing = REQUIREMENTS.filter((r) => !r.alternatives.some(isInstalled))
  if (stillMissing.length > 0) fail(`still missing after install: ${stillMissing.map((r) => r.name).join(", ")}`, install.output)
  const problems = checkTools()
  if (problems.length > 0) fail(`installed, but: ${problems.join("; ")}`)
  log(`installed ${packages.join(" ")}`)
}

const readPid = () => {
  try {
    const pid = Number.parseInt(readFileSync("/run/nginx.pid", "utf8"), 10)
    return Number.isInteger(pid) && pid > 1 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Is the system nginx (the one with the default pid file /run/nginx.pid) running? */
const nginxServiceRunning = () => {
  const pid = readPid()
  return pid !== undefined && existsSync(`/proc/${pid}`)
}

main()
