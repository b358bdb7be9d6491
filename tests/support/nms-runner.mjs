// Runs node-media-server 4.x in a child process for end-to-end tests (started by nms.ts, never by hand).
//
// argv[2]: JSON { rtmpPort, rtmpsPort?, keyFile?, certFile?, recordDir, dataDir, graceMs }
// Binds 127.0.0.1 only; no HTTP/admin/API servers; records every publish to
// <recordDir>/<app>/<key>/<unix ms>.flv. Reports over the IPC channel:
//   { event: "ready" }                                  after the record service is running
//   { event: "postPublish" | "donePublish", streamPath }
//   { event: "recordClosed", streamPath, filePath }     after the recording file is flushed and closed
// SIGTERM: stops the server (finalizing recordings) and exits.
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
const NodeMediaServer = require("node-media-server")
const Context = require("node-media-server/src/core/context.js")
const logger = require("node-media-server/src/core/logger.js")

const options = JSON.parse(process.argv[2])
const send = (message) => {
  if (process.connected) process.send(message)
}

const config = {
  bind: "127.0.0.1",
  notify: { url: "" },
  store: { path: options.dataDir },
  auth: { play: false, publish: false, secret: "" },
  rtmp: { port: options.rtmpPort },
  ...(options.rtmpsPort ? { rtmps: { port: options.rtmpsPort, key: options.keyFile, cert: options.certFile } } : {}),
  webadmin: { enable: false },
  record: { auto: true, path: options.recordDir }
}

const nms = new NodeMediaServer(config, `${options.dataDir}/config.json`)
logger.level = "info"

nms.on("postPublish", (session) => {
  // NMS keeps a publish alive for 30 s after the publisher disconnects (so the same client can resume
  // into the same recording); tests want the recording closed when the publisher leaves.
  const broadcast = Context.broadcasts.get(session.streamPath)
  if (broadcast) broadcast.publishGraceMs = options.graceMs
  send({ event: "postPublish", streamPath: session.streamPath })
})
nms.on("donePublish", (session) => send({ event: "donePublish", streamPath: session.streamPath }))
nms.on("doneRecord", (session) => {
  const report = () => send({ event: "recordClosed", streamPath: session.streamPath, filePath: session.filePath })
  const stream = session.fileStream
  if (stream.closed) report()
  else stream.once("close", report)
})

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  try {
    await nms.stop()
  } finally {
    // let the record streams flush their close
    setTimeout(() => process.exit(0), 100)
  }
}
process.on("SIGTERM", shutdown)
process.on("SIGINT", shutdown)
process.on("disconnect", shutdown) // the test process went away

await nms.run()
send({ event: "ready" })
