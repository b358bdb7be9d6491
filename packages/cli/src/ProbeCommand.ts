/**
 * `effect-rtmp probe <url>`: connect, handshake and `connect` only (never publish), over each transport,
 * and report what the server said about itself and advertised.
 *
 * @since 0.3.0
 */
import { Probe, Url } from "@effect-rtmp/core"
import { layerBlocking, layerCoroutine } from "@effect-rtmp/transport"
import { Cause, Duration, Effect, Exit, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { errorJson } from "./ErrorJson.ts"
import { ExitCode } from "./ExitCode.ts"

/**
 * The transports `probe` runs on: each one, or `all` (coroutine, then blocking).
 *
 * @since 0.3.0
 */
export const transports = {
  coroutine: [["coroutine", layerCoroutine]],
  blocking: [["blocking", layerBlocking]],
  all: [["coroutine", layerCoroutine], ["blocking", layerBlocking]]
} as const

/**
 * The parsed command line of `probe`.
 *
 * @since 0.3.0
 */
export interface ProbeArgs {
  readonly url: string
  readonly transport: keyof typeof transports
  readonly ca: Option.Option<string>
  readonly insecure: boolean
  readonly timeout: Option.Option<number>
  readonly json: boolean
}

/**
 * The outcome of the probe over one transport.
 *
 * @since 0.3.0
 */
export type TransportOutcome =
  | { readonly transport: string; readonly status: "ok"; readonly report: Probe.ProbeReport }
  | { readonly transport: string; readonly status: "failed"; readonly error: unknown }

/**
 * Runs the probe over each chosen transport, prints the results (`--json`: one line per transport, then
 * the summary) and returns the exit code: 0 when at least one transport works, 1 when none does, 2 for a
 * malformed URL. The stream key is masked in everything printed.
 *
 * @since 0.3.0
 */
export const run = (args: ProbeArgs): Effect.Effect<number> =>
  Effect.gen(function*() {
    const parsed = Url.parseResult(args.url)
    const secret = parsed._tag === "Success" ? parsed.success.streamKey : ""
    const mask = (text: string) => secret === "" ? text : Url.maskText(text, secret)
    const maskedUrl = parsed._tag === "Success" ? Url.toMaskedString(parsed.success) : Url.mask(args.url)
    const json = (value: Record<string, unknown>) =>
      Effect.sync(() =>
        void process.stdout.write(JSON.stringify(value, (_, v) => typeof v === "string" ? mask(v) : v) + "\n")
      )
    const text = (line: string) => Effect.sync(() => void process.stdout.write(mask(line) + "\n"))
    const started = Date.now()

    if (parsed._tag === "Failure") {
      if (args.json) {
        yield* json({ event: "summary", status: "failed", url: maskedUrl, transports: {}, elapsedMs: 0, error: errorJson(parsed.failure) })
      } else {
        yield* Effect.sync(() => void process.stderr.write(mask(`error: ${parsed.failure.message}\n`)))
      }
      return ExitCode.Usage
    }

    if (!args.json) yield* text(`probe ${maskedUrl}`)
    const options: Probe.ProbeOptions = {
      timeout: Option.getOrUndefined(Option.map(args.timeout, Duration.seconds)),
      tls: { ca: Option.getOrUndefined(Option.map(args.ca, (pem) => [pem])), insecure: args.insecure }
    }
    const outcomes: Array<TransportOutcome> = []
    for (const [name, layer] of transports[args.transport]) {
      const exit = yield* Effect.exit(Probe.probe(args.url, options).pipe(Effect.provide(layer)))
      const outcome: TransportOutcome = Exit.isSuccess(exit)
        ? { transport: name, status: "ok", report: exit.value }
        : {
          transport: name,
          status: "failed",
          error: Option.getOrElse(
            Cause.findErrorOption(exit.cause),
            () => ({ _tag: "Defect", message: Cause.pretty(exit.cause) })
          )
        }
      outcomes.push(outcome)
      if (args.json) {
        yield* json(
          outcome.status === "ok"
            ? { event: "probe", status: "ok", ...outcome.report, transport: name }
            : { event: "probe", transport: name, status: "failed", url: maskedUrl, error: errorJson(outcome.error) }
        )
      } else {
        yield* text(humanBlock(outcome))
      }
    }

    const working = outcomes.filter((outcome) => outcome.status === "ok")
    const status = working.length > 0 ? "ok" : "failed"
    const lastFailure = outcomes.findLast((outcome) => outcome.status === "failed")
    if (args.json) {
      yield* json({
        event: "summary",
        status,
        url: maskedUrl,
        transports: Object.fromEntries(outcomes.map((outcome) => [outcome.transport, outcome.status])),
        elapsedMs: Date.now() - started,
        ...(status === "failed" && lastFailure?.status === "failed" ? { error: errorJson(lastFailure.error) } : {})
      })
    } else {
      yield* text(`${working.length} of ${outcomes.length} transport${outcomes.length === 1 ? "" : "s"} work`)
    }
    return status === "ok" ? ExitCode.Ok : ExitCode.Failed
  })

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)

const row = (label: string, value: string) => `  ${label.padEnd(12)}${value}`

/**
 * The readable block of one transport's outcome.
 *
 * @since 0.3.0
 */
export const humanBlock = (outcome: TransportOutcome): string => {
  if (outcome.status === "failed") return `${outcome.transport}: failed: ${messageOf(outcome.error)}`
  const { advertised, enhanced, server, tls } = outcome.report
  const lines = [`${outcome.transport}: ok (connect in ${outcome.report.connectMs} ms)`]
  const identity = [
    server.fmsVer ?? "no fmsVer",
    ...(server.capabilities === null ? [] : [`capabilities ${server.capabilities}`]),
    ...(server.mode === null ? [] : [`mode ${server.mode}`]),
    `handshake version ${server.handshakeVersion}`
  ]
  lines.push(row("server", identity.join(", ")))
  lines.push(row(
    "connect",
    `${server.code ?? "no code"}${server.description === null ? "" : ` (${server.description})`}` +
      `${server.objectEncoding === null ? "" : `, objectEncoding ${server.objectEncoding}`}`
  ))
  const peer = advertised.peerBandwidth
  lines.push(row(
    "advertised",
    [
      `chunk size ${advertised.chunkSize ?? "not sent"}`,
      `window ack size ${advertised.windowAckSize ?? "not sent"}`,
      `peer bandwidth ${peer === null ? "not sent" : `${peer.size} (${peer.limitType})`}`
    ].join(", ")
  ))
  if (enhanced !== null) {
    const maps = (map: Readonly<Record<string, number>> | null) =>
      map === null ? "-" : Object.entries(map).map(([fourCc, flags]) => `${fourCc}:${flags}`).join(" ")
    lines.push(row(
      "enhanced",
      `fourCcList ${enhanced.fourCcList?.join(" ") ?? "-"}; video ${maps(enhanced.videoFourCcInfoMap)}; ` +
        `audio ${maps(enhanced.audioFourCcInfoMap)}; capsEx ${enhanced.capsEx ?? "-"}`
    ))
  } else {
    lines.push(row("enhanced", "not advertised"))
  }
  lines.push(row("round trip", outcome.report.rttMs === null ? "no answer to ping" : `${outcome.report.rttMs} ms`))
  if (tls !== null) {
    lines.push(row("tls", `${tls.protocol} ${tls.cipher}${tls.servername === null ? "" : ` (SNI ${tls.servername})`}`))
    const cert = tls.certificate
    lines.push(row(
      "certificate",
      cert === null
        ? "not reported by the transport"
        : `${cert.subject}, issued by ${cert.issuer}, expires ${cert.validTo ?? "?"}` +
          `${cert.subjectAltName === null ? "" : ` (${cert.subjectAltName})`}`
    ))
  }
  return lines.join("\n")
}

/**
 * The `probe` command definition; its handler yields the exit code to the caller through `onExit`.
 *
 * @since 0.3.0
 */
export const make = (onExit: (code: number) => void) =>
  Command.make("probe", {
    url: Argument.String("url").pipe(
      Argument.withDescription("rtmp://host[:port]/app[/streamKey] or rtmps://...: the key is never sent")
    ),
    transport: Flag.Literals("transport", ["all", "coroutine", "blocking"]).pipe(
      Flag.withDefault("all" as const),
      Flag.withDescription("Socket implementation(s) to probe with: all (coroutine, then blocking, default), coroutine or blocking")
    ),
    ca: Flag.FileText("ca").pipe(Flag.optional, Flag.withDescription("Extra trusted CA certificate (PEM) for rtmps")),
    insecure: Flag.Boolean("insecure").pipe(Flag.withDefault(false), Flag.withDescription("Skip TLS certificate verification (unsafe)")),
    timeout: Flag.Finite("timeout").pipe(
      Flag.filter((n) => n > 0, () => "a positive number of seconds"),
      Flag.optional,
      Flag.withDescription("Seconds allowed for each wait: connect, TLS, handshake, the connect reply")
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDefault(false),
      Flag.withDescription("One JSON object per line on stdout: one per transport, then the summary")
    )
  }, (args) => Effect.map(run(args), onExit)).pipe(
    Command.withDescription("Connect to an RTMP/RTMPS server without publishing and report what it advertises")
  )
