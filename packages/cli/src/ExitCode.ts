/**
 * The CLI's exit codes: part of its contract with scripts.
 *
 * @since 0.1.0
 */

/**
 * - `Ok` 0: the publish completed;
 * - `Failed` 1: the publish failed (network, TLS, server rejection, protocol);
 * - `Usage` 2: the command line is wrong (unknown option, missing argument, malformed URL);
 * - `InvalidInput` 3: the media input cannot be read or is not publishable.
 *
 * @since 0.1.0
 */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, InvalidInput: 3 } as const
