/**
 * effect-rtmp's command line, as a library: the `publish` command and its output.
 *
 * @since 0.1.0
 */
export { ExitCode, forSignal } from "./ExitCode.ts"
export * as Output from "./Output.ts"
export * as ProbeCommand from "./ProbeCommand.ts"
export * as PublishCommand from "./PublishCommand.ts"
export * as Signals from "./Signals.ts"
