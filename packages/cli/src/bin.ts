/**
 * The `effect-rtmp` executable.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { ExitCode } from "./ExitCode.ts"
import * as PublishCommand from "./PublishCommand.ts"

let exitCode: number = ExitCode.Ok

const cli = Command.make("effect-rtmp").pipe(
  Command.withDescription("RTMP/RTMPS publishing client"),
  Command.withSubcommands([PublishCommand.make((code) => (exitCode = code))])
)

const main = Command.run(cli, { version: "0.1.0" }).pipe(
  Effect.map(() => exitCode),
  // Parse errors were already printed with the help text; they are usage errors.
  Effect.catch(() => Effect.succeed(ExitCode.Usage)),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(main, {
  teardown: (exit, onExit) => onExit(exit._tag === "Success" && typeof exit.value === "number" ? exit.value : ExitCode.Failed)
})
