/**
 * Which failures are worth another attempt, and how long to wait between attempts.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schedule } from "effect"
import type { SessionError } from "./Session.ts"
import type { InvalidUrl } from "./RtmpError.ts"

/**
 * Transient failures (EOF, reset, timeout, refused connection) may succeed on a new connection;
 * TLS failures, rejections, malformed URLs, handshake and protocol errors will not.
 *
 * @since 0.1.0
 */
export const isRetryable = (error: SessionError | InvalidUrl): boolean => {
  switch (error._tag) {
    case "UnexpectedEof":
    case "ConnectionReset":
    case "Timeout":
    case "ConnectFailed":
      return true
    default:
      return false
  }
}

const maxDelay = Duration.seconds(10)

/**
 * Exponential backoff from 500 ms with jitter, each delay capped at 10 s, at most `retries` retries.
 * Combine it with `isRetryable` (`Effect.retry({ schedule, while })`); exhaustion returns the last
 * typed error.
 *
 * @since 0.1.0
 */
export const schedule = (retries: number) =>
  Schedule.exponential("500 millis").pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maxDelay))),
    Schedule.jittered,
    Schedule.upTo({ times: retries })
  )
