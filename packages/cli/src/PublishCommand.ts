/**
 * `effect-rtmp publish <input|-> <url>`: publish an FLV file or stdin to an RTMP/RTMPS URL.
 *
 * @since 0.1.0
 */
import { MediaSource, Publisher, Url } from "@effect-rtmp/core"
import { layerBlocking, layerCoroutine } from "@effect-rtmp/transport"
import { Duration, Effect, Fiber, Option, Schedule } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { ExitCode } from "./ExitCode.ts"
import * as Output from "./Output.ts"

const transports = { coroutine: layerCoroutine, blocking: layerBlocking } as const

/**
 * The parsed command line of `publish`.
 *
 * @since 0.1.0
 */
export interface PublishArgs {
  readonly input: string
  readonly url: string
  readonly transport: keyof typeof transports
  readonly realtime: boolean
  readonly ca: Option.Option<string>
  readonly insecure: boolean
  readonly timeout: Option.Option<number>
  readonly retries: number
  readonly json: boolean
}

/**
 * Runs a publish as the CLI does (output, summary) and returns the process exit code.
 *
 * @since 0.1.0
 */
export const run = (args: PublishArgs): Effect.Effect<number> =>
  Effect.gen(function*() {
    const target = yield* Effect.result(Url.parse(args.url))
    const secret = target._tag === "Success" ? target.success.streamKey : ""
    const output = Output.make({ json: args.json, secret })
    const stats = Publisher.makeStats()
    const started = Date.now()
    const elapsed = () => Date.now() - started
    if (target._tag === "Failure") {
      yield* output.summary(stats, 0, target.failure)
      return ExitCode.Usage
    }

    const ticker = yield* Effect.forkChild(
      Effect.repeat(Effect.suspend(() => output.progress(stats, elapsed())), Schedule.spaced("1 second")).pipe(
        Effect.delay("1 second")
      )
    )
    const published = yield* Effect.result(
      Publisher.publish(args.url, MediaSource.frames(args.input), {
        realtime: args.realtime,
        retries: args.retries,
        timeout: Option.getOrUndefined(Option.map(args.timeout, Duration.seconds)),
        tls: { ca: Option.getOrUndefined(Option.map(args.ca, (pem) => [pem])), insecure: args.insecure },
        stats,
        onEvent: output.event
      }).pipe(Effect.provide(transports[args.transport]))
    )
    yield* Fiber.interrupt(ticker)
    const error = published._tag === "Failure" ? published.failure : undefined
    yield* output.summary(stats, elapsed(), error)
    if (error === undefined) return ExitCode.Ok
    if (error._tag === "InvalidUrl") return ExitCode.Usage
    if (error._tag === "InvalidMedia") return ExitCode.InvalidInput
    return ExitCode.Failed
  })

/**
 * The `publish` command definition; its handler yields the exit code to the caller through `onExit`.
 *
 * @since 0.1.0
 */
export const make = (onExit: (code: number) => void) =>
  Command.make("publish", {
    input: Argument.String("input").pipe(Argument.withDescription("An FLV file, or - for stdin")),
    url: Argument.String("url").pipe(
      Argument.withDescription("rtmp://host[:port]/app/streamKey or rtmps://host[:port]/app/streamKey")
    ),
    transport: Flag.Literals("transport", ["coroutine", "blocking"]).pipe(
      Flag.withDefault("coroutine" as const),
      Flag.withDescription("Socket implementation: coroutine (non-blocking, default) or blocking (exact reads)")
    ),
    realtime: Flag.Boolean("realtime").pipe(Flag.withDefault(false), Flag.withDescription("Pace frames by their timestamps, like ffmpeg -re")),
    ca: Flag.FileText("ca").pipe(Flag.optional, Flag.withDescription("Extra trusted CA certificate (PEM) for rtmps")),
    insecure: Flag.Boolean("insecure").pipe(Flag.withDefault(false), Flag.withDescription("Skip TLS certificate verification (unsafe)")),
    timeout: Flag.Finite("timeout").pipe(
      Flag.filter((n) => n > 0, () => "a positive number of seconds"),
      Flag.optional,
      Flag.withDescription("Seconds allowed for each wait: connect, TLS, handshake, each reply, a stalled write")
    ),
    retries: Flag.Int("retries").pipe(
      Flag.filter((n) => n >= 0, () => "a whole number, 0 or more"),
      Flag.withDefault(0),
      Flag.withDescription("Retry retryable failures up to N times (N+1 attempts)")
    ),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("One JSON object per line on stdout; the last is the summary"))
  }, (args) => Effect.map(run(args), onExit)).pipe(
    Command.withDescription("Publish an FLV file or stdin to an RTMP or RTMPS ingest")
  )
