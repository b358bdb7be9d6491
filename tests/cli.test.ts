/**
 * The CLI contract (DESIGN.md, "The CLI contract"), table-driven, against the built `effect-rtmp` binary
 * as a user runs it, and real servers on 127.0.0.1: nginx-rtmp with its RTMPS front, plus tiny `node:net`
 * servers that misbehave on purpose (never answer, close in the middle of S1).
 *
 * - exit codes: 0 ok, 1 publish failed, 2 usage, 3 invalid input media;
 * - `--json`: every stdout line is one JSON object, the last one the summary, with typed errors and fields;
 * - the stream key never appears on stdout or stderr, whatever happens; the masked URL appears instead.
 */
import { existsSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  type CliRun,
  type FlvTag,
  freePort,
  listenOnLoopback,
  LOOPBACK,
  makeFixture,
  makeTempDir,
  type NginxServer,
  parseFlv,
  readFlv,
  removeTempDir,
  runChecked,
  runCli,
  startNginx
} from "./support/index.ts"

/** The distinctive stream key (or prefix of every key) that must never be printed. */
const KEY = "sEcReT-kEy-123"
const transports = ["coroutine", "blocking"] as const

// ---------------------------------------------------------------------------------------------------------
// Misbehaving servers
// ---------------------------------------------------------------------------------------------------------

interface TcpServer {
  readonly port: number
  /** Connections accepted so far. */
  accepted(): number
  close(): Promise<void>
}

/** A `node:net` server on 127.0.0.1 that hands every accepted socket to `onSocket`. */
const startTcpServer = async (onSocket: (socket: net.Socket) => void): Promise<TcpServer> => {
  const sockets = new Set<net.Socket>()
  let accepted = 0
  const server = net.createServer((socket) => {
    accepted++
    sockets.add(socket)
    socket.on("error", () => {})
    socket.on("close", () => sockets.delete(socket))
    onSocket(socket)
  })
  return { ...(await listenOnLoopback(server, sockets)), accepted: () => accepted }
}

/** Accepts, reads everything, never answers: the handshake waits forever (until `--timeout`). */
const silent = (socket: net.Socket) => socket.resume()

/** After C0+C1 (1537 bytes) arrive, sends S0 and only the first 102 bytes of S1, then closes (FIN). */
const shortS1 = (socket: net.Socket) => {
  let received = 0
  let answered = false
  socket.on("data", (chunk: Buffer) => {
    received += chunk.length
    if (received >= 1537 && !answered) {
      answered = true
      socket.end(Buffer.concat([Buffer.from([3]), Buffer.alloc(102, 0x5a)]))
    }
  })
}

// ---------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------

let work: string
let nginx: NginxServer
let silentServer: TcpServer
let shortS1Server: TcpServer
let closedPort: number
let clip: string
/** The tags of `clip` the CLI sends as frames: all of them, the AVC end-of-sequence tag ffmpeg writes last included. */
let clipTags: number
let clipSize: number
let textFile: string
/** Sorenson H.263 video (FLV CodecID 2, `ffmpeg -c:v flv1`): a real FLV whose video codec is not supported. */
let h263: string
let truncated: string
/** The complete tags of `truncated` (before the cut). */
let truncatedCompleteTags: ReadonlyArray<FlvTag>

beforeAll(async () => {
  work = await makeTempDir("cli")
  const results = await Promise.allSettled([
    startNginx({ tls: true }).then((s) => (nginx = s)),
    makeFixture({ path: path.join(work, "clip.flv"), seconds: 2 }).then((f) => (clip = f)),
    startTcpServer(silent).then((s) => (silentServer = s)),
    startTcpServer(shortS1).then((s) => (shortS1Server = s)),
    freePort().then((p) => (closedPort = p)),
    runChecked("ffmpeg", [
      "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
      "-t", "1", "-c:v", "flv1", "-f", "flv", path.join(work, "h263.flv")
    ]).then(() => (h263 = path.join(work, "h263.flv")))
  ])
  for (const r of results) if (r.status === "rejected") throw r.reason

  const data = await fs.readFile(clip)
  const source = parseFlv(data)
  // ffmpeg writes one AVC end-of-sequence tag (AVCPacketType 2), at the very end; FlvDemuxer forwards it
  // as an endOfSequence frame, so every tag is a frame.
  const endOfSequence = source.tags.filter((t) => t.track === "video" && t.body[1] === 2)
  expect(endOfSequence.map((t) => source.tags.indexOf(t))).toEqual([source.tags.length - 1])
  clipTags = source.tags.length
  clipSize = data.length

  textFile = path.join(work, "notes.txt")
  await fs.writeFile(textFile, "These are not the frames you are looking for.\n".repeat(100))

  // Cut the file in the middle of the body of a media tag half-way through it.
  const middle = source.tags.slice(source.tags.length / 2).find((t) => t.kind === "media" && t.body.length >= 16)!
  truncated = path.join(work, "truncated.flv")
  await fs.writeFile(truncated, data.subarray(0, middle.offset + 11 + Math.floor(middle.body.length / 2)))
  const cut = await readFlv(truncated)
  expect(cut.truncated).toBe(true)
  truncatedCompleteTags = cut.tags
  expect(truncatedCompleteTags.length).toBe(source.tags.indexOf(middle))
})

afterAll(async () => {
  await Promise.allSettled([nginx?.stop(), silentServer?.close(), shortS1Server?.close()])
  if (work) await removeTempDir(work)
})

// ---------------------------------------------------------------------------------------------------------
// Assertions shared by every case
// ---------------------------------------------------------------------------------------------------------

const show = (run: CliRun) =>
  `exit ${run.code}${run.timedOut ? " (timed out)" : ""} after ${run.durationMs} ms\n` +
  `--- stdout ---\n${run.stdout}--- stderr ---\n${run.stderr}`

/** The stream key is in neither stdout nor stderr. */
const expectNoKey = (run: CliRun) => {
  expect(run.stdout, show(run)).not.toContain(KEY)
  expect(run.stderr, show(run)).not.toContain(KEY)
}

/** `--json`: stdout is JSON lines only, exactly one summary and it is the last line. */
const expectJsonLines = (run: CliRun) => {
  const lines = run.stdout.split("\n").filter((line) => line !== "")
  expect(lines.length, show(run)).toBeGreaterThan(0)
  expect(run.events.length, show(run)).toBe(lines.length)
  expect(run.events.filter((e) => e.event === "summary").length, show(run)).toBe(1)
  expect(run.events.at(-1)?.event, show(run)).toBe("summary")
}

/** A failed run: exit code, a failed summary with the error's fields, no key anywhere. */
const expectFailed = (run: CliRun, code: number, error: Record<string, unknown>) => {
  expect(run.code, show(run)).toBe(code)
  expectJsonLines(run)
  expect(run.summary, show(run)).toMatchObject({ event: "summary", status: "failed", error })
  expect(typeof (run.summary!.error as { message?: unknown }).message, show(run)).toBe("string")
  expect(run.events.some((e) => e.event === "finished"), show(run)).toBe(false)
  expectNoKey(run)
}

/** The masked form of a URL with `key` as its last segment. */
const masked = (url: string, key: string) => url.replace(key, "****")

// ---------------------------------------------------------------------------------------------------------
// Usage errors: exit 2
// ---------------------------------------------------------------------------------------------------------

describe.concurrent("usage errors exit 2 with a one-line message on stderr", () => {
  const url = `rtmp://127.0.0.1:1/live/${KEY}`
  const cases: ReadonlyArray<{ name: string; args: ReadonlyArray<string>; message: RegExp }> = [
    { name: "no arguments to publish", args: ["publish"], message: /missing.*input/i },
    { name: "an unknown flag", args: ["publish", "--bogus", "clip.flv", url], message: /--bogus/ },
    { name: "--transport bogus", args: ["publish", "clip.flv", url, "--transport", "bogus"], message: /--transport.*bogus/ },
    { name: "--retries x", args: ["publish", "clip.flv", url, "--retries", "x"], message: /--retries.*"x"/ },
    { name: "--retries -1", args: ["publish", "clip.flv", url, "--retries", "-1"], message: /--retries.*"-1"/ },
    { name: "--timeout 0", args: ["publish", "clip.flv", url, "--timeout", "0"], message: /--timeout.*"0"/ }
  ]
  for (const c of cases) {
    it(c.name, async () => {
      const run = await runCli(c.args)
      expect(run.code, show(run)).toBe(2)
      const lines = run.stderr.split("\n").filter((line) => line.trim() !== "")
      expect(lines, show(run)).toHaveLength(1)
      expect(lines[0], show(run)).toMatch(c.message)
      expect(run.stdout, show(run)).toBe("")
      expectNoKey(run)
    })
  }

  const urls: ReadonlyArray<{ name: string; url: string; maskedUrl: string | undefined; reason: RegExp }> = [
    { name: "http://", url: `http://x/live/${KEY}`, maskedUrl: "http://x/live/****", reason: /protocol/ },
    { name: "rtmp:// without a host", url: "rtmp://", maskedUrl: undefined, reason: /host/ },
    { name: "rtmp://host/onlyapp (no stream key)", url: `rtmp://host/${KEY}`, maskedUrl: "rtmp://host/****", reason: /stream key/ }
  ]
  for (const c of urls) {
    it(`malformed URL ${c.name}, --json: InvalidUrl`, async () => {
      const run = await runCli(["publish", clip, c.url, "--json"])
      expectFailed(run, 2, { _tag: "InvalidUrl", reason: expect.stringMatching(c.reason) })
      expect(run.summary).toMatchObject({ frames: 0, bytes: 0, attempts: 0 })
      if (c.maskedUrl !== undefined) expect(run.summary).toMatchObject({ error: { url: c.maskedUrl } })
    })
  }

  it("malformed URL, human: one `error:` line with the masked URL", async () => {
    const run = await runCli(["publish", clip, `rtmp://host/${KEY}`])
    expect(run.code, show(run)).toBe(2)
    expect(run.stdout, show(run)).toBe("")
    expect(run.stderr, show(run)).toMatch(/^error: Invalid URL rtmp:\/\/host\/\*\*\*\*: .*stream key is missing.*\n$/)
    expectNoKey(run)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Input errors: exit 3
// ---------------------------------------------------------------------------------------------------------

describe.concurrent("invalid input media exits 3", () => {
  it("a missing file, --json: InvalidMedia naming the path, and no publish is started", async () => {
    const missing = path.join(work, "does-not-exist.flv")
    const key = `${KEY}-missing`
    const run = await runCli(["publish", missing, nginx.url(key), "--json"])
    expectFailed(run, 3, { _tag: "InvalidMedia", source: missing, message: expect.stringContaining(missing) })
    expect(run.summary).toMatchObject({ frames: 0, bytes: 0, attempts: 0 })
    // nginx creates the recording when a publish starts: a bad input must not start an (empty) broadcast.
    expect(existsSync(nginx.recordingPath(key))).toBe(false)
  })

  it("a missing file, human: `error: <message naming the path>` on stderr", async () => {
    const missing = path.join(work, "does-not-exist.flv")
    const run = await runCli(["publish", missing, nginx.url(`${KEY}-missing-human`)])
    expect(run.code, show(run)).toBe(3)
    expect(run.stderr, show(run)).toMatch(/^error: .*does-not-exist\.flv/m)
    expectNoKey(run)
  })

  it("a missing file is reported as such even when the server is down", async () => {
    const missing = path.join(work, "does-not-exist.flv")
    const run = await runCli(["publish", missing, `rtmp://${LOOPBACK}:${closedPort}/live/${KEY}`, "--json"])
    expectFailed(run, 3, { _tag: "InvalidMedia", source: missing })
  })

  it("a text file: InvalidMedia, and no publish is started", async () => {
    const key = `${KEY}-text`
    const run = await runCli(["publish", textFile, nginx.url(key), "--json"])
    expectFailed(run, 3, { _tag: "InvalidMedia", source: textFile })
    expect(run.summary).toMatchObject({ attempts: 0 })
    expect(existsSync(nginx.recordingPath(key))).toBe(false)
  })

  it("stdin that is not FLV: InvalidMedia from stdin", async () => {
    const run = await runCli(["publish", "-", nginx.url(`${KEY}-stdin-text`), "--json"], { stdinFile: textFile })
    expectFailed(run, 3, { _tag: "InvalidMedia", source: "stdin" })
  })

  for (const transport of transports) {
    it(`an unsupported video codec, Sorenson H.263 (${transport}), --json: InvalidMedia naming it, no video sent`, async () => {
      const key = `${KEY}-h263-${transport}`
      const run = await runCli(["publish", h263, nginx.url(key), "--json", "--transport", transport, "--retries", "2"])
      expectFailed(run, 3, {
        _tag: "InvalidMedia",
        source: h263,
        // the codec by name, and what is supported instead
        reason: expect.stringMatching(/Sorenson H\.263.*H\.264/),
        offset: expect.any(Number)
      })
      // The input is read up to its first audio or video frame before connecting: the unsupported codec
      // fails there, so no connection is made and the server records nothing.
      expect(run.summary!.attempts as number, show(run)).toBe(0)
      const recorded = await fs.stat(nginx.recordingPath(key)).then(() => true, () => false)
      expect(recorded, show(run)).toBe(false)
    })

    it(`an unsupported video codec (${transport}), human: one \`error:\` line naming the codec and what is supported`, async () => {
      const run = await runCli(["publish", h263, nginx.url(`${KEY}-h263-human-${transport}`), "--transport", transport])
      expect(run.code, show(run)).toBe(3)
      expect(run.stdout, show(run)).toBe("")
      const lines = run.stderr.split("\n").filter((line) => line.trim() !== "")
      expect(lines, show(run)).toHaveLength(1)
      expect(lines[0], show(run)).toMatch(/^error: .*h263\.flv.*unsupported video codec Sorenson H\.263.*only H\.264/)
      expectNoKey(run)
    })

    it(`a truncated FLV (${transport}): InvalidMedia, and the server got at most the complete tags`, async () => {
      const key = `${KEY}-truncated-${transport}`
      const run = await runCli(["publish", truncated, nginx.url(key), "--json", "--transport", transport])
      expectFailed(run, 3, { _tag: "InvalidMedia", source: truncated })
      expect(run.summary!.frames as number, show(run)).toBeLessThanOrEqual(truncatedCompleteTags.length)
      // What nginx recorded (if anything), per track: a prefix of the media frames before the cut, never
      // the cut frame (nginx writes its cached sequence headers itself, so config tags are not compared).
      const recording = await nginx.waitForRecording(key).catch(() => undefined)
      if (recording !== undefined) {
        const recorded = await readFlv(recording)
        for (const track of ["audio", "video"] as const) {
          const media = (tags: ReadonlyArray<FlvTag>) =>
            tags.filter((t) => t.track === track && t.kind === "media").map((t) => t.md5)
          const sent = media(truncatedCompleteTags)
          const got = media(recorded.tags)
          expect(got.length, track).toBeLessThanOrEqual(sent.length)
          expect(got, track).toEqual(sent.slice(0, got.length))
        }
      }
    })
  }
})

// ---------------------------------------------------------------------------------------------------------
// Publish failures: exit 1 with typed errors
// ---------------------------------------------------------------------------------------------------------

interface FailureCase {
  readonly name: string
  /** The URL to publish to, given the stream key (which contains {@link KEY}). */
  readonly url: (key: string) => string
  readonly args?: ReadonlyArray<string>
  /** Fields the summary's `error` must have (a function: the servers' ports are known in `beforeAll`). */
  readonly error: () => Record<string, unknown>
  readonly attempts: number
  readonly check?: (run: CliRun) => void
}

const failures: ReadonlyArray<FailureCase> = [
  {
    name: "a closed port: ConnectFailed ECONNREFUSED, 1 attempt",
    url: (key) => `rtmp://${LOOPBACK}:${closedPort}/live/${key}`,
    error: () => ({ _tag: "ConnectFailed", code: "ECONNREFUSED", host: LOOPBACK, port: closedPort }),
    attempts: 1
  },
  {
    name: "a closed port with --retries 2: 3 attempts",
    url: (key) => `rtmp://${LOOPBACK}:${closedPort}/live/${key}`,
    args: ["--retries", "2"],
    error: () => ({ _tag: "ConnectFailed", code: "ECONNREFUSED", host: LOOPBACK, port: closedPort }),
    attempts: 3,
    check: (run) => {
      expect(run.events.filter((e) => e.event === "connecting").map((e) => e.attempt)).toEqual([1, 2, 3])
      expect(run.events.filter((e) => e.event === "attempt_failed").map((e) => e.attempt)).toEqual([1, 2, 3])
    }
  },
  {
    name: "rtmps without --ca, --retries 3: TlsError, not retried, never UnexpectedEof",
    url: (key) => nginx.tlsUrl(key),
    args: ["--retries", "3"],
    error: () => ({ _tag: "TlsError", host: "localhost", code: expect.stringMatching(/^[A-Z_]+$/) }),
    attempts: 1,
    check: (run) => expect(run.stdout).not.toContain("UnexpectedEof")
  },
  {
    name: "a server that never answers, --timeout 1: Timeout in the handshake after 1000 ms",
    url: (key) => `rtmp://${LOOPBACK}:${silentServer.port}/live/${key}`,
    args: ["--timeout", "1"],
    error: () => ({ _tag: "Timeout", phase: "handshake", after: 1000 }),
    attempts: 1,
    check: (run) => {
      expect(run.summary!.elapsedMs as number).toBeGreaterThanOrEqual(950)
      expect(run.summary!.elapsedMs as number).toBeLessThan(2500)
    }
  },
  {
    name: "a server that closes after S0 + 102 bytes of S1: UnexpectedEof 1536/102 in handshake S1",
    url: (key) => `rtmp://${LOOPBACK}:${shortS1Server.port}/live/${key}`,
    error: () => ({ _tag: "UnexpectedEof", expected: 1536, received: 102, phase: "handshake S1" }),
    attempts: 1
  }
]

for (const transport of transports) {
  describe.concurrent(`publish failures exit 1 (${transport})`, () => {
    failures.forEach((c, i) => {
      it(c.name, async () => {
        const key = `${KEY}-fail${i}-${transport}`
        const url = c.url(key)
        const run = await runCli(["publish", clip, url, "--json", "--transport", transport, ...(c.args ?? [])])
        expectFailed(run, 1, c.error())
        expect(run.summary, show(run)).toMatchObject({ attempts: c.attempts, frames: 0, transport })
        // The masked URL stands in for the real one.
        expect(run.events[0], show(run)).toMatchObject({ event: "connecting", attempt: 1, url: masked(url, key), transport })
        c.check?.(run)
      })
    })

    it("human mode: `error: <message>` on stderr, nothing on stdout, no key", async () => {
      const url = `rtmp://${LOOPBACK}:${shortS1Server.port}/live/${KEY}`
      const run = await runCli(["publish", clip, url, "--transport", transport])
      expect(run.code, show(run)).toBe(1)
      expect(run.stdout, show(run)).toBe("")
      expect(run.stderr, show(run)).toMatch(/^error: Unexpected EOF while reading handshake S1: expected 1536 bytes, received 102/m)
      expectNoKey(run)
    })
  })
}

// ---------------------------------------------------------------------------------------------------------
// Success
// ---------------------------------------------------------------------------------------------------------

for (const transport of transports) {
  describe.concurrent(`success exits 0 (${transport})`, () => {
    const expectOk = (run: CliRun, url: string, key: string) => {
      expect(run.code, show(run)).toBe(0)
      expectJsonLines(run)
      expectNoKey(run)
      const order = run.events.map((e) => e.event).filter((e) => e !== "progress")
      expect(order, show(run)).toEqual(["connecting", "publishing", "finished", "summary"])
      expect(run.events[0]).toMatchObject({ attempt: 1, url: masked(url, key), transport })
      expect(run.summary, show(run)).toMatchObject({ status: "ok", attempts: 1, transport, frames: clipTags })
      expect(run.summary).not.toHaveProperty("error")
      expect(run.summary!.bytes as number).toBeGreaterThan(clipSize * 0.9)
    }

    it("rtmp --json: events in order, every tag sent, bytes ~ file size", async () => {
      const key = `${KEY}-ok-${transport}`
      const url = nginx.url(key)
      const run = await runCli(["publish", clip, url, "--json", "--transport", transport])
      expectOk(run, url, key)
      const recorded = (await readFlv(await nginx.waitForRecording(key))).tags.filter((t) => t.kind === "media")
      expect(recorded.length).toBe((await readFlv(clip)).tags.filter((t) => t.kind === "media").length)
    })

    it("rtmps --insecure: ok", async () => {
      const key = `${KEY}-insecure-${transport}`
      const url = nginx.tlsUrl(key)
      const run = await runCli(["publish", clip, url, "--json", "--transport", transport, "--insecure"])
      expectOk(run, url, key)
    })

    it("rtmps --ca: ok", async () => {
      const key = `${KEY}-ca-${transport}`
      const url = nginx.tlsUrl(key)
      const run = await runCli(["publish", clip, url, "--json", "--transport", transport, "--ca", nginx.caFile!])
      expectOk(run, url, key)
    })

    it("--handshake auto --legacy-connect, credentials in the URL and --user/--password: ok, no secret shown", async () => {
      const key = `${KEY}-options-${transport}`
      const url = nginx.url(key).replace("rtmp://", "rtmp://aLiCe-user:pAsS-SeCrEt@")
      const run = await runCli([
        "publish", clip, url, "--json", "--transport", transport, "--handshake", "auto", "--legacy-connect",
        "--user", "bOb-user", "--password", "oThEr-SeCrEt"
      ])
      expect(run.code, show(run)).toBe(0)
      expectJsonLines(run)
      expectNoKey(run)
      for (const secret of ["aLiCe-user", "pAsS-SeCrEt", "bOb-user", "oThEr-SeCrEt"]) {
        expect(run.stdout + run.stderr, show(run)).not.toContain(secret)
      }
      expect(run.events[0], show(run)).toMatchObject({ event: "connecting", url: expect.stringContaining("****@") })
      expect(run.summary, show(run)).toMatchObject({ status: "ok", attempts: 1, frames: clipTags })
    })

    it("human mode: a one-line result on stderr, nothing on stdout, no key", async () => {
      const key = `${KEY}-human-${transport}`
      const run = await runCli(["publish", clip, nginx.url(key), "--transport", transport])
      expect(run.code, show(run)).toBe(0)
      expect(run.stdout, show(run)).toBe("")
      expect(run.stderr, show(run)).toMatch(new RegExp(`^published ${clipTags} frames, .* over ${transport}\\n$`))
      expectNoKey(run)
    })
  })
}
