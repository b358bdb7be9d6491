/**
 * Which failures are worth another attempt, how long to wait between attempts, and which ones make the
 * publisher switch to its fallback transport.
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

/**
 * `isRetryable`, and also, once media has flowed, `NetStream.Publish.BadName` ("already publishing"):
 * after a connection broke, the server may not have noticed yet that the old publisher is gone, and
 * refuses the stream name until it does. Use it for the attempts that resume a stream.
 *
 * @since 0.2.0
 */
export const isRetryableWhenResuming = (error: SessionError | InvalidUrl): boolean =>
  isRetryable(error) || (error._tag === "Rejected" && error.code === "NetStream.Publish.BadName")

/**
 * The failures that may come from the socket implementation itself rather than from the network or the
 * server (EOF, reset, timeout, on a connection that was made): those after which `--transport auto`
 * switches to its fallback transport when they happen before publishing starts. Never a refused
 * connection (no implementation connects where nothing listens), a TLS failure (a certificate does not
 * become trusted on another socket), a rejection or a protocol error.
 *
 * @since 0.2.0
 */
export const isTransportFailure = (error: SessionError | InvalidUrl): boolean => {
  switch (error._tag) {
    case "UnexpectedEof":
    case "ConnectionReset":
    case "Timeout":
      return true
    default:
      return false
  }
}

const maxDelay = Duration.seconds(10)

/**
 * Exponential backoff from 500 ms with jitter, each delay capped at 10 s, at most `retries` retries.
 * Combine it with `isRetryable` (`Effect.retry({ schedule, while })`); exhaustion returns the last
 * typed error. The publisher steps it once per consecutive failed attempt (`Schedule.toStep`), and
 * starts it afresh when a publish has been stable.
 *
 * @since 0.1.0
 */
export const schedule = (retries: number) =>
  Schedule.exponential("500 millis").pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, maxDelay))),
    Schedule.jittered,
    Schedule.upTo({ times: retries })
  )
