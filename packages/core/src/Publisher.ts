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
 * A publish survives a broken connection: after a retryable failure (EOF, reset, timeout, refused) it
 * connects again (to the next URL of `[url, ...backups]`), sends the last `onMetaData` and each track's
 * codec configuration, and resumes from the replay buffer (see `ReplayBuffer`) at the video keyframe of
 * the first frame the server had not acknowledged, then goes on with the source. Frame timestamps are
 * the source's, never rebased. `retries` bounds the consecutive failed attempts; the count starts again
 * once a connection has published for `stableAfter`.
 *
 * @since 0.1.0
 */
import { Transport, type TlsOptions, type TransportName, type TransportShape } from "@effect-rtmp/transport"
import { Clock, Duration, Effect, Exit, Pull, Schedule, Stream } from "effect"
import * as FlvMuxer from "./FlvMuxer.ts"
import * as FramePump from "./internal/framePump.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import * as Realtime from "./Realtime.ts"
import * as ReplayBuffer from "./ReplayBuffer.ts"
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
  /** Frames of the source written to a connection (each counted once, however often it was re-sent). */
  frames: number
  /** Bytes written to the connections, chunk headers included, handshakes excluded. */
  bytes: number
  /** Connection attempts made. */
  attempts: number
  /** Which transport carried the last attempt. */
  transport: TransportName | undefined
  /** Decode timestamp of the last frame sent, ms. */
  lastDts: number
  /** Times the stream resumed on a new connection after media had flowed. */
  reconnects: number
  /**
   * Frames not known to be delivered that were not re-sent after a reconnection: the bounded replay
   * buffer had dropped them (oldest GOPs first) because the server did not acknowledge in time.
   */
  dropped: number
}

/**
 * Fresh counters, to pass as `PublishOptions.stats`.
 *
 * @since 0.1.0
 */
export const makeStats = (): PublishStats => ({
  frames: 0,
  bytes: 0,
  attempts: 0,
  transport: undefined,
  lastDts: 0,
  reconnects: 0,
  dropped: 0
})

/**
 * What happens during a publish, for logs and progress displays. URLs in events are masked.
 *
 * - `Connecting`: an attempt starts (`attempt` counts from 1 over the whole publish);
 * - `Publishing`: the server accepted the stream on this attempt's connection;
 * - `AttemptFailed`: an attempt failed (whether or not another follows);
 * - `Reconnecting`: media had flowed and another attempt follows, after the backoff delay; `attempt` is
 *   the number of that next attempt, `error` what ended the previous one;
 * - `Finished`: the stream ended cleanly.
 *
 * @since 0.1.0
 */
export type PublishEvent =
  | { readonly _tag: "Connecting"; readonly attempt: number; readonly url: string; readonly transport: TransportName }
  | { readonly _tag: "Publishing"; readonly streamId: number }
  | { readonly _tag: "AttemptFailed"; readonly attempt: number; readonly error: PublishError }
  | { readonly _tag: "Reconnecting"; readonly attempt: number; readonly error: PublishError }
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
  /** Overrides the application name taken from the (primary) URL. */
  readonly app?: string | undefined
  /** Overrides the stream key taken from the (primary) URL. */
  readonly streamKey?: string | undefined
  /**
   * Backup ingest URLs, each with its own stream key: attempts go to the URL, then each backup in
   * order, then the URL again, and so on; each attempt takes the next one. `app` and `streamKey` do
   * not apply to them.
   */
  readonly backups?: ReadonlyArray<string> | undefined
  /** TLS settings for rtmps: extra CA, insecure. */
  readonly tls?: Omit<TlsOptions, "servername"> | undefined
  /** Limit for each wait: connect, TLS, handshake, each awaited reply, a stalled write. Default 10 s. */
  readonly timeout?: Duration.Input | undefined
  /**
   * Consecutive failed attempts allowed, for retryable failures (`RetryPolicy.isRetryable`): at most
   * `retries + 1` attempts in a row, with `RetryPolicy.schedule`'s backoff between them. Default 0.
   */
  readonly retries?: number | undefined
  /**
   * How long a connection must have published for its failure to start the count of consecutive
   * failures (and the backoff) again. Default 30 seconds.
   */
  readonly stableAfter?: Duration.Input | undefined
  /**
   * The transport for the attempts after one that failed, before publishing started, in a way the
   * socket implementation may be to blame for (`RetryPolicy.isTransportFailure`: EOF, reset, timeout).
   * The switch is made once, for the rest of the publish, and that next attempt does not count against
   * `retries`. The CLI's `--transport auto` is the coroutine transport with the blocking one here.
   */
  readonly fallbackTransport?: TransportShape | undefined
  /** Bound of the replay buffer, in bytes of frame payloads. Default 64 MiB (`ReplayBuffer.defaultMaxBytes`). */
  readonly replayBufferBytes?: number | undefined
  /** Window Acknowledgement Size asked of the server (`SessionOptions.windowAckSize`). Default 1 000 000. */
  readonly windowAckSize?: number | undefined
  /** Pace frames by their timestamps (like `ffmpeg -re`). Default: as fast as the server takes them. */
  readonly realtime?: boolean | undefined
  /** Outgoing chunk size. Default 4096. */
  readonly chunkSize?: number | undefined
  /** Counters to update (see `makeStats`). */
  readonly stats?: PublishStats | undefined
  /** Called for each lifecycle event. */
  readonly onEvent?: ((event: PublishEvent) => Effect.Effect<void>) | undefined
}

/** A failure of the frame source, kept apart from the connection's failures (which may be retried). */
class SourceFailure<E> {
  readonly error: E
  constructor(error: E) {
    this.error = error
  }
}

/** How long an interrupted publish may take to send FCUnpublish + deleteStream before it closes. */
const finishOnInterrupt = Duration.seconds(1)

/** Frames per write when a new connection re-sends the replay buffer. */
const replayBatch = 128

/**
 * Publishes the frames and ends the stream cleanly (FCUnpublish + deleteStream). The first frame is
 * read before connecting, so an unreadable input fails without touching the server. Retryable
 * failures are retried, before and after media flows (see the module documentation); an interrupted
 * publish still sends FCUnpublish + deleteStream (for at most 1 s) before closing its connection. Fails
 * with the typed error of the last attempt, or the frame stream's own error.
 *
 * @since 0.1.0
 */
export const publish = <E, R>(
  url: string,
  frames: Stream.Stream<MediaFrame, E, R>,
  options: PublishOptions = {}
): Effect.Effect<PublishStats, PublishError | E, Transport | R> =>
  Effect.scoped(Effect.gen(function*() {
    const urls = [url, ...(options.backups ?? [])]
    const targets = [
      yield* Url.parse(url, { app: options.app, streamKey: options.streamKey }),
      ...(yield* Effect.forEach(options.backups ?? [], (backup) => Url.parse(backup)))
    ]
    const primary = yield* Transport
    const fallback = options.fallbackTransport
    const stats = options.stats ?? makeStats()
    const emit = options.onEvent ?? (() => Effect.void)
    const timeout = options.timeout ?? Duration.seconds(10)
    const retries = options.retries ?? 0
    const stableAfter = Duration.toMillis(Duration.fromInputUnsafe(options.stableAfter ?? Duration.seconds(30)))
    const buffer = ReplayBuffer.make({ maxBytes: options.replayBufferBytes })
    const source = yield* FramePump.start(options.realtime === true ? Realtime.realtime(frames) : frames)

    // Read up to the first frame before connecting: a missing or unreadable input fails here, with its
    // own error, and never starts an empty broadcast on the server.
    let ended = false
    const first = yield* source.take
    if (first === undefined) ended = true
    else for (const frame of first) buffer.push(frame)

    let mediaFlowed = false
    let bytesBefore = 0
    /** When the current attempt's server accepted the stream (Clock ms). */
    let publishingSince: number | undefined

    const attempt = (target: Url.RtmpUrl, transport: TransportShape) =>
      Effect.scoped(Effect.gen(function*() {
        const connection = yield* transport.connect({
          host: target.host,
          port: target.port,
          tls: target.protocol === "rtmps" ? { ...options.tls } : undefined,
          timeout
        })
        const session = yield* Session.open(connection, target, {
          chunkSize: options.chunkSize,
          timeout,
          windowAckSize: options.windowAckSize
        })
        publishingSince = yield* Clock.currentTimeMillis
        const resumption = buffer.resume()
        stats.dropped += resumption.dropped
        if (mediaFlowed) stats.reconnects += 1
        const counted = () => (stats.bytes = bytesBefore + session.bytesSent())
        let finished = false
        yield* Effect.addFinalizer((exit) =>
          Effect.suspend(() => {
            buffer.acknowledge(session.acknowledged())
            counted()
            bytesBefore = stats.bytes
            // Interrupted (Ctrl-C, a timeout around the publish): end the stream on the server anyway.
            return !finished && Exit.hasInterrupts(exit)
              ? Effect.timeoutOrElse(Effect.ignore(session.finish), {
                duration: finishOnInterrupt,
                orElse: () => Effect.void
              })
              : Effect.void
          })
        )
        yield* emit({ _tag: "Publishing", streamId: session.streamId })

        const sendEntries = (entries: ReadonlyArray<ReplayBuffer.Entry>) =>
          Effect.map(session.send(entries.map((entry) => FlvMuxer.toMessage(entry.frame, session.streamId))), (ends) => {
            entries.forEach((entry, i) => {
              if (!entry.written) stats.frames += 1
              buffer.markSent(entry, ends[i]!)
            })
            mediaFlowed = true
            stats.lastDts = entries[entries.length - 1]!.frame.dts
            counted()
            buffer.acknowledge(session.acknowledged())
          })

        const media = Effect.gen(function*() {
          if (resumption.headers.length > 0) {
            yield* session.send(resumption.headers.map((frame) => FlvMuxer.toMessage(frame, session.streamId)))
          }
          for (let at = 0; at < resumption.entries.length; at += replayBatch) {
            yield* sendEntries(resumption.entries.slice(at, at + replayBatch))
          }
          while (!ended) {
            const batch = yield* Effect.mapError(source.take, (error) => new SourceFailure(error))
            if (batch === undefined) ended = true
            else yield* sendEntries(batch.map(buffer.push))
          }
        })
        yield* Effect.raceFirst(media, session.watch)
        yield* session.finish
        finished = true
        counted()
        yield* connection.close
      }))

    let step = yield* Schedule.toStep(RetryPolicy.schedule(retries))
    let onFallback = false
    while (true) {
      const index = stats.attempts % targets.length
      const transport = onFallback && fallback !== undefined ? fallback : primary
      stats.attempts += 1
      stats.transport = transport.name
      publishingSince = undefined
      yield* emit({ _tag: "Connecting", attempt: stats.attempts, url: Url.mask(urls[index]!), transport: transport.name })
      const result = yield* Effect.result(attempt(targets[index]!, transport))
      if (result._tag === "Success") break
      if (result.failure instanceof SourceFailure) return yield* Effect.fail(result.failure.error as E)
      const error = result.failure
      yield* emit({ _tag: "AttemptFailed", attempt: stats.attempts, error })

      const now = yield* Clock.currentTimeMillis
      // A connection that published long enough starts the count of consecutive failures again.
      if (publishingSince !== undefined && now - publishingSince >= stableAfter) {
        step = yield* Schedule.toStep(RetryPolicy.schedule(retries))
      }
      const retryable = mediaFlowed ? RetryPolicy.isRetryableWhenResuming(error) : RetryPolicy.isRetryable(error)
      if (!retryable) return yield* Effect.fail(error)
      let delay: Duration.Duration = Duration.zero
      if (fallback !== undefined && !onFallback && publishingSince === undefined && RetryPolicy.isTransportFailure(error)) {
        onFallback = true
      } else {
        const next = yield* Pull.catchDone(
          Effect.map(step(now, error), ([, duration]) => duration),
          () => Effect.succeed(undefined)
        )
        if (next === undefined) return yield* Effect.fail(error)
        delay = next
      }
      if (mediaFlowed) yield* emit({ _tag: "Reconnecting", attempt: stats.attempts + 1, error })
      yield* Effect.sleep(delay)
    }
    yield* emit({ _tag: "Finished" })
    return stats
  }))
