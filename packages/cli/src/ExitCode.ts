/**
 * The CLI's exit codes: part of its contract with scripts.
 *
 * @since 0.1.0
 */

/**
 * - `Ok` 0: the publish completed;
 * - `Failed` 1: the publish failed (network, TLS, server rejection, protocol);
 * - `Usage` 2: the command line is wrong (unknown option, missing argument, malformed URL);
 * - `InvalidInput` 3: the media input cannot be read or is not publishable;
 * - `Interrupted` 130 (128 + SIGINT) and `Terminated` 143 (128 + SIGTERM): the publish was stopped by
 *   that signal (the stream ended cleanly on the server, the summary printed).
 *
 * @since 0.1.0
 */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, InvalidInput: 3, Interrupted: 130, Terminated: 143 } as const

/**
 * The exit code for a publish stopped by `signal`: 130 for SIGINT, 143 for SIGTERM, as shells report them.
 *
 * @since 0.2.0
 */
export const forSignal = (signal: "SIGINT" | "SIGTERM"): number =>
  signal === "SIGTERM" ? ExitCode.Terminated : ExitCode.Interrupted
