/**
 * The public entry point: publish a Stream of media frames to an `rtmp://` or `rtmps://` URL over the
 * `Transport` the program provides.
 *
 * ```ts
 * import { Publisher, MediaSource } from "@effect-rtmp/core"
 * import { layerCoroutine } from "@effect-rtmp/transport"
 *
 * const program = Publisher.publish("rtmp://127.0.0.1/live/key", MediaSource.frames("show.flv"))
 * Effect.runPromise(program.pipe(Effect.provide(layerCoroutine)))
 * ```
 *
 * @since 0.1.0
 */
import { Transport, type TlsOptions, type TransportName } from "@effect-rtmp/transport"
import { Duration, Effect, Pull, Stream } from "effect"
import * as FlvMuxer from "./FlvMuxer.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import * as Realtime from "./Realtime.ts"
import * as RetryPolicy from "./RetryPolicy.ts"
import type { InvalidUrl } from "./RtmpError.ts"
import * as Session from "./Session.ts"
import * as Url from "./Url.ts"

/**
 * Counters of a publish, updated as it runs; read them for progress displays and summaries, also
 * after a failure.
 *
 * @since 0.1.0
 */
export interface PublishStats {
  /** Media frames handed to the connection. */
  frames: number
  /** Bytes written to the connection, chunk headers included, handshake excluded. */
  bytes: number
  /** Connection attempts made. */
  attempts: number
  /** Which transport carried the last attempt. */
  transport: TransportName | undefined
  /** Decode timestamp of the last frame sent, ms. */
  lastDts: number
}

/**
 * Fresh counters, to pass as `PublishOptions.stats`.
 *
 * @since 0.1.0
 */
export const makeStats = (): PublishStats => ({ frames: 0, bytes: 0, attempts: 0, transport: undefined, lastDts: 0 })

/**
 * What happens during a publish, for logs and progress displays. URLs in events are masked.
 *
 * @since 0.1.0
 */
export type PublishEvent =
  | { readonly _tag: "Connecting"; readonly attempt: number; readonly url: string; readonly transport: TransportName }
  | { readonly _tag: "Publishing"; readonly streamId: number }
  | { readonly _tag: "AttemptFailed"; readonly attempt: number; readonly error: PublishError }
  | { readonly _tag: "Finished" }

/**
 * Every way a publish can fail, besides the failures of the frame stream itself.
 *
 * @since 0.1.0
 */
export type PublishError = Session.SessionError | InvalidUrl

/**
 * Options of `publish`.
 *
 * @since 0.1.0
 */
export interface PublishOptions {
  /** Overrides the application name taken from the URL. */
  readonly app?: string | undefined
  /** Overrides the stream key taken from the URL. */
  readonly streamKey?: string | undefined
  /** TLS settings for rtmps: extra CA, insecure. */
  readonly tls?: Omit<TlsOptions, "servername"> | undefined
  /** Limit for each wait: connect, TLS, handshake, each awaited reply, a stalled write. Default 10 s. */
  readonly timeout?: Duration.Input | undefined
  /** Retries for retryable failures before media flows: at most `retries + 1` attempts. Default 0. */
  readonly retries?: number | undefined
  /** Pace frames by their timestamps (like `ffmpeg -re`). Default: as fast as the server takes them. */
  readonly realtime?: boolean | undefined
  /** Outgoing chunk size. Default 4096. */
  readonly chunkSize?: number | undefined
  /** Counters to update (see `makeStats`). */
  readonly stats?: PublishStats | undefined
  /** Called for each lifecycle event. */
  readonly onEvent?: ((event: PublishEvent) => Effect.Effect<void>) | undefined
}

/**
 * Publishes the frames and ends the stream cleanly (FCUnpublish + deleteStream). The first frame is
 * read before connecting, so an unreadable input fails without touching the server. Retries the
 * connection for retryable failures until the first frame is sent. Fails with the typed error of the
 * last attempt.
 *
 * @since 0.1.0
 */
export const publish = <E, R>(
  url: string,
  frames: Stream.Stream<MediaFrame, E, R>,
  options: PublishOptions = {}
): Effect.Effect<PublishStats, PublishError | E, Transport | R> =>
  Effect.scoped(Effect.gen(function*() {
    const target = yield* Url.parse(url, { app: options.app, streamKey: options.streamKey })
    const transport = yield* Transport
    const stats = options.stats ?? makeStats()
    const emit = options.onEvent ?? (() => Effect.void)
    const timeout = options.timeout ?? Duration.seconds(10)
    // Read up to the first frame before connecting: a missing or unreadable input fails here, with its
    // own error, and never starts an empty broadcast on the server.
    const pull = yield* Stream.toPull(frames)
    const first = yield* Pull.catchDone(pull, () => Effect.succeed(undefined))
    const input = first === undefined ? Stream.empty : Stream.concat(Stream.fromArray(first), Stream.fromPull(Effect.succeed(pull)))
    const paced = options.realtime === true ? Realtime.realtime(input) : input
    let mediaStarted = false

    const attempt = Effect.scoped(Effect.gen(function*() {
      stats.attempts += 1
      stats.transport = transport.name
      yield* emit({ _tag: "Connecting", attempt: stats.attempts, url: Url.mask(url), transport: transport.name })
      const connection = yield* transport.connect({
        host: target.host,
        port: target.port,
        tls: target.protocol === "rtmps" ? { ...options.tls } : undefined,
        timeout
      })
      const session = yield* Session.open(connection, target, { chunkSize: options.chunkSize, timeout })
      const counted = () => (stats.bytes = session.bytesSent())
      yield* emit({ _tag: "Publishing", streamId: session.streamId })
      mediaStarted = true
      const media = Stream.runForEachArray(paced, (batch) => {
        const messages = batch.map((frame) => FlvMuxer.toMessage(frame, session.streamId))
        return Effect.map(session.send(messages), () => {
          stats.frames += batch.length
          stats.lastDts = batch[batch.length - 1]!.dts
          counted()
        })
      })
      yield* Effect.raceFirst(media, session.watch)
      yield* session.finish
      counted()
      yield* connection.close
    })).pipe(
      Effect.tapError((error) =>
        emit({ _tag: "AttemptFailed", attempt: stats.attempts, error: error as PublishError })
      )
    )

    yield* Effect.retry(attempt, {
      schedule: RetryPolicy.schedule(options.retries ?? 0),
      // Before media flows every failure is a PublishError; after, nothing is retried (yet).
      while: (error) => !mediaStarted && RetryPolicy.isRetryable(error as PublishError)
    })
    yield* emit({ _tag: "Finished" })
    return stats
  }))
