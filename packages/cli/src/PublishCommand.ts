/**
 * `effect-rtmp publish <input|-> <url>`: publish an FLV file or stdin to an RTMP/RTMPS URL.
 *
 * @since 0.1.0
 */
import { MediaSource, Publisher, Url } from "@effect-rtmp/core"
import { layerBlocking, layerCoroutine, makeBlocking } from "@effect-rtmp/transport"
import { Cause, Duration, Effect, Exit, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { ExitCode, forSignal } from "./ExitCode.ts"
import * as Output from "./Output.ts"
import { Interrupted, type Signal } from "./Signals.ts"

/**
 * The socket implementations `--transport` chooses from: `auto` is coroutine, falling back to blocking
 * after a transport-level failure before publishing starts.
 *
 * @since 0.2.0
 */
export const transports = {
  coroutine: { layer: layerCoroutine, fallback: undefined },
  blocking: { layer: layerBlocking, fallback: undefined },
  auto: { layer: layerCoroutine, fallback: makeBlocking }
} as const

/**
 * The parsed command line of `publish`.
 *
 * @since 0.1.0
 */
export interface PublishArgs {
  readonly input: string
  readonly url: string
  readonly backup?: ReadonlyArray<string> | undefined
  readonly transport: keyof typeof transports
  readonly realtime: boolean
  /** `--live`: the input cannot wait; drop video under congestion (`PublishOptions.live`). Default: `realtime`. */
  readonly live?: boolean | undefined
  readonly ca: Option.Option<string>
  readonly insecure: boolean
  readonly timeout: Option.Option<number>
  readonly retries: number
  readonly json: boolean
  /** `--handshake`: the C1 form (`PublishOptions.handshake`). Default auto. */
  readonly handshake?: "simple" | "digest" | "auto" | undefined
  /** `--legacy-connect`: no Enhanced RTMP properties in connect. */
  readonly legacyConnect?: boolean | undefined
  /** `--user`: user name for servers that authenticate publishers (Adobe or Limelight authmod). */
  readonly user?: Option.Option<string> | undefined
  /** `--password`: the password of `--user`. */
  readonly password?: Option.Option<string> | undefined
  /** `--track`: the MP4 track ids to publish (`Mp4Demuxer.Options.tracks`). Empty or absent: the default. */
  readonly track?: ReadonlyArray<number> | undefined
  /** `--all-tracks`: every audio and video track of an MP4 (Enhanced RTMP multitrack). */
  readonly allTracks?: boolean | undefined
}

/**
 * How a run learns about signals and reports its exit code when it is interrupted (then the value it
 * returns is never seen: `NodeRuntime.runMain` interrupted the program).
 *
 * @since 0.2.0
 */
export interface RunContext {
  /** The signal that interrupted the run, if one did. Default: none known (reported as SIGINT). */
  readonly signal?: (() => Signal | undefined) | undefined
  /** Receives the exit code once the summary is printed, also when the run was interrupted. */
  readonly onExitCode?: ((code: number) => void) | undefined
}

const exitCodeOf = (error: unknown): number => {
  if (error === undefined) return ExitCode.Ok
  const tag = (error as { _tag?: unknown })._tag
  if (tag === "InvalidUrl" || tag === "InvalidUsage") return ExitCode.Usage
  if (tag === "InvalidMedia") return ExitCode.InvalidInput
  if (error instanceof Interrupted) return forSignal(error.signal)
  return ExitCode.Failed
}

/**
 * Runs a publish as the CLI does (output, summary) and returns the process exit code. When interrupted
 * (Ctrl-C, SIGTERM), the publish ends the stream on the server, the summary is still printed with status
 * `failed` and error `Interrupted { signal }`, and the exit code (130 / 143) goes to `onExitCode`.
 *
 * @since 0.1.0
 */
export const run = (args: PublishArgs, context: RunContext = {}): Effect.Effect<number> =>
  Effect.gen(function*() {
    const urls = [args.url, ...(args.backup ?? [])]
    const parsed = urls.map((url) => Url.parseResult(url))
    const output = Output.make({
      json: args.json,
      secrets: [
        ...parsed.map((target) => target._tag === "Success" ? target.success.streamKey : ""),
        ...parsed.flatMap((target) =>
          target._tag === "Success" ? [target.success.username ?? "", target.success.password ?? ""] : []
        ),
        Option.getOrElse(args.user ?? Option.none(), () => ""),
        Option.getOrElse(args.password ?? Option.none(), () => "")
      ]
    })
    const stats = Publisher.makeStats()
    const started = Date.now()
    const elapsed = () => Date.now() - started
    const invalid = parsed.find((target) => target._tag === "Failure")
    if (invalid !== undefined && invalid._tag === "Failure") {
      yield* output.summary(stats, 0, invalid.failure)
      context.onExitCode?.(ExitCode.Usage)
      return ExitCode.Usage
    }

    const track = args.track ?? []
    if (track.length > 0 && args.allTracks === true) {
      yield* output.summary(stats, 0, {
        _tag: "InvalidUsage",
        message: "--track and --all-tracks exclude each other"
      })
      context.onExitCode?.(ExitCode.Usage)
      return ExitCode.Usage
    }
    const mp4Options = args.allTracks === true
      ? { tracks: "all" as const }
      : track.length > 0
      ? { tracks: track }
      : undefined

    const transport = transports[args.transport]
    const publish = Publisher.publish(args.url, MediaSource.frames(args.input, mp4Options), {
      backups: args.backup,
      fallbackTransport: transport.fallback,
      realtime: args.realtime,
      live: args.realtime || args.live === true,
      retries: args.retries,
      timeout: Option.getOrUndefined(Option.map(args.timeout, Duration.seconds)),
      tls: { ca: Option.getOrUndefined(Option.map(args.ca, (pem) => [pem])), insecure: args.insecure },
      handshake: args.handshake,
      credentials: Option.isSome(args.user ?? Option.none())
        ? {
        username: Option.getOrElse(args.user!, () => ""),
        password: Option.getOrElse(args.password ?? Option.none(), () => "")
        }
        : undefined,
      enhanced: args.legacyConnect !== true,
      stats,
      onStats: output.progress,
      onEvent: output.event
      }).pipe(Effect.provide(transport.layer))

    // Uninterruptible around the publish (which itself stays interruptible): a signal interrupts the
    // publish, whose finalizers end the stream and close the connection, and the summary still prints.
    return yield* Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(restore(publish))
        const error = Exit.isSuccess(exit)
          ? undefined
          : Cause.hasInterrupts(exit.cause)
          ? new Interrupted({ signal: context.signal?.() ?? "SIGINT" })
          : Option.getOrUndefined(Cause.findErrorOption(exit.cause))
        if (Exit.isFailure(exit) && error === undefined) {
          // A defect: not a contract failure, but still a summary and a failure exit code.
          yield* output.summary(stats, elapsed(), { _tag: "Defect", message: Cause.pretty(exit.cause) })
          context.onExitCode?.(ExitCode.Failed)
          return ExitCode.Failed
        }
        yield* output.summary(stats, elapsed(), error)
        const code = exitCodeOf(error)
        context.onExitCode?.(code)
        return code
      })
    )
  })

/**
 * The `publish` command definition; its handler yields the exit code to the caller through `onExit`
 * (also when the run is interrupted by a signal, whose name `signal` tells).
 *
 * @since 0.1.0
 */
export const make = (onExit: (code: number) => void, signal?: () => Signal | undefined) =>
  Command.make("publish", {
    input: Argument.String("input").pipe(Argument.withDescription("An FLV file, or - for stdin")),
    url: Argument.String("url").pipe(
      Argument.withDescription("rtmp://host[:port]/app/streamKey or rtmps://host[:port]/app/streamKey")
    ),
    backup: Flag.String("backup").pipe(
      Flag.atLeast(0),
      Flag.withDescription(
        "A backup ingest URL (repeatable): attempts go to the URL, then each backup in turn, then the URL again"
      )
    ),
    transport: Flag.Literals("transport", ["coroutine", "blocking", "auto"]).pipe(
      Flag.withDefault("coroutine" as const),
      Flag.withDescription(
        "Socket implementation: coroutine (non-blocking, default), blocking (exact reads), or auto (coroutine, " +
          "then blocking after a transport failure before publishing starts)"
      )
    ),
    realtime: Flag.Boolean("realtime").pipe(Flag.withDefault(false), Flag.withDescription("Pace frames by their timestamps, like ffmpeg -re (implies --live)")),
    live: Flag.Boolean("live").pipe(
      Flag.withDefault(false),
      Flag.withDescription(
        "The input is live (e.g. ffmpeg -re on stdin) and cannot wait: when the connection cannot keep up, " +
          "drop video GOP by GOP (never audio) instead of slowing the input down"
      )
    ),
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
      Flag.withDescription(
        "Retry retryable failures up to N times in a row (N+1 attempts), also after media flowed (reconnect " +
          "and resume); the count starts again after 30 s of stable publishing"
      )
    ),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("One JSON object per line on stdout; the last is the summary")),
    handshake: Flag.Literals("handshake", ["simple", "digest", "auto"]).pipe(
      Flag.withDefault("auto" as const),
      Flag.withDescription(
        "RTMP handshake: auto (default: simple, then digest once if the server rejects it), simple, " +
          "or digest (Flash Player form, for CDNs that require it)"
      )
    ),
    user: Flag.String("user").pipe(
      Flag.optional,
      Flag.withDescription("User name for ingests that authenticate publishers (authmod adobe or llnw)")
    ),
    password: Flag.String("password").pipe(Flag.optional, Flag.withDescription("The password of --user")),
    track: Flag.Int("track").pipe(
      Flag.filter((n) => n >= 1 && n <= 0xffffffff, () => "an MP4 track id (1 or more)"),
      Flag.atLeast(0),
      Flag.withDescription(
        "MP4 inputs: publish this track id (repeatable; ids as ffprobe shows them). Default: the first video " +
          "and the first audio track. Tracks past the first of a kind go as Enhanced RTMP multitrack"
      )
    ),
    allTracks: Flag.Boolean("all-tracks").pipe(
      Flag.withDefault(false),
      Flag.withDescription("MP4 inputs: publish every audio and video track (Enhanced RTMP multitrack)")
    ),
    legacyConnect: Flag.Boolean("legacy-connect").pipe(
      Flag.withDefault(false),
      Flag.withDescription("Send no Enhanced RTMP properties in connect, for old servers that refuse them")
    )
  }, (args) => Effect.asVoid(run(args, { signal, onExitCode: onExit }))).pipe(
    Command.withDescription("Publish an FLV file or stdin to an RTMP or RTMPS ingest")
  )
