/**
 * Ctrl-C and SIGTERM in the CLI. `NodeRuntime.runMain` interrupts the program on either signal; this
 * module remembers which one came, so that the publish can report it (`Interrupted { signal }`) and the
 * process exit with 130 or 143. A second signal while the first is being handled exits at once.
 *
 * @since 0.2.0
 */
import { Schema } from "effect"
import { forSignal } from "./ExitCode.ts"

/**
 * The signals the CLI handles.
 *
 * @since 0.2.0
 */
export type Signal = "SIGINT" | "SIGTERM"

/**
 * The publish was stopped by a signal: it sent FCUnpublish + deleteStream when it was publishing (for
 * at most a second) and closed the connection. The summary's error, with exit code 130 (SIGINT) or 143
 * (SIGTERM).
 *
 * @since 0.2.0
 */
export class Interrupted extends Schema.TaggedError<Interrupted>()("Interrupted", {
  signal: Schema.Literals(["SIGINT", "SIGTERM"])
}) {
  override get message(): string {
    return `Interrupted by ${this.signal}: the publish was stopped and the connection closed.`
  }
}

/**
 * What `install` returns: the first signal received, if any.
 *
 * @since 0.2.0
 */
export interface Signals {
  readonly received: () => Signal | undefined
}

/**
 * Listens for SIGINT and SIGTERM for the life of the process (alongside `runMain`'s own listeners, which
 * interrupt the program). The second signal exits the process at once with its exit code.
 *
 * @since 0.2.0
 */
export const install = (): Signals => {
  let received: Signal | undefined
  const on = (signal: Signal) => () => {
    if (received !== undefined) process.exit(forSignal(signal))
    received = signal
  }
  process.on("SIGINT", on("SIGINT"))
  process.on("SIGTERM", on("SIGTERM"))
  return { received: () => received }
}
