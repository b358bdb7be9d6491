/**
 * The `effect-rtmp` executable.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Console, Effect, Exit } from "effect"
import { CliOutput, Command } from "effect/cli"
import { ExitCode, forSignal } from "./ExitCode.ts"
import * as ProbeCommand from "./ProbeCommand.ts"
import * as PublishCommand from "./PublishCommand.ts"
import * as Signals from "./Signals.ts"

let exitCode: number = ExitCode.Ok
const signals = Signals.install()

const cli = Command.make("effect-rtmp").pipe(
  Command.withDescription("RTMP/RTMPS publishing client"),
  Command.withSubcommands([
    PublishCommand.make((code) => (exitCode = code), signals.received),
    ProbeCommand.make((code) => (exitCode = code))
  ])
)

/**
 * A wrong command line gets one readable line on stderr (`error: <what is wrong> (see ... --help)`) and
 * nothing on stdout, where `--json` readers expect JSON only; help and version print as usual.
 */
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Console.error(
        `error: ${event.errors.map((e) => e.message.replace(/\s+/g, " ").trim()).join("; ")} ` +
          `(see ${event.commandPath.join(" ")} --help)`
      )
      : CliOutput.defaultPresenter.present(event)
})

const main = Command.run(cli, { version: "0.1.0" }).pipe(
  Effect.map(() => exitCode),
  // Parse errors were already printed by the presenter; they are usage errors.
  Effect.catch(() => Effect.succeed(ExitCode.Usage)),
  Effect.provide([NodeServices.layer, presenter])
)

// On SIGINT / SIGTERM runMain interrupts `main`: the publish command still prints its summary and sets
// the exit code (130 / 143) before the interruption completes.
NodeRuntime.runMain(main, {
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit) && typeof exit.value === "number"
        ? exit.value
        : Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
        ? exitCode !== ExitCode.Ok ? exitCode : forSignal(signals.received() ?? "SIGINT")
        : ExitCode.Failed
    )
})
