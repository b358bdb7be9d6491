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
 * A server may also ask for a reconnection (`onStatus NetConnection.Connect.ReconnectRequest`, Enhanced
 * RTMP v2, e.g. before it restarts): the publish goes on up to the next video keyframe (audio only: at
 * once), ends the stream on that connection (FCUnpublish + deleteStream), and resumes it from there on
 * the request's `tcUrl` (else the same URL) with the same stream key. That is no failure: it counts in
 * `reconnects`, not against `retries`.
 *
 * Servers that authenticate publishers (`authmod=adobe`, `authmod=llnw`) get the credentials of the URL
 * (`rtmp://user:password@host/app/key`) or of `PublishOptions.credentials`: see `Auth`.
 *
 * @since 0.1.0
 */
import { Transport, type TlsOptions, type TransportName, type TransportShape } from "@effect-rtmp/transport"
import { Clock, Duration, Effect, Exit, Pull, Queue, Schedule, Stream } from "effect"
import * as Auth from "./Auth.ts"
import * as FlvMuxer from "./FlvMuxer.ts"
import * as FramePump from "./internal/framePump.ts"
import * as LiveResume from "./internal/liveResume.ts"
import * as Metadata from "./Metadata.ts"
import type { MediaFrame } from "./MediaFrame.ts"
import * as Realtime from "./Realtime.ts"
import * as ReplayBuffer from "./ReplayBuffer.ts"
import * as RetryPolicy from "./RetryPolicy.ts"
import * as SendQueue from "./SendQueue.ts"
import * as StatsSampler from "./internal/statsSampler.ts"
import * as Telemetry from "./Telemetry.ts"
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
  /** Coded video frames written (each counted once): what frame rates are measured with. */
  videoFrames: number
  /**
   * Frames the send queue dropped because the connection could not keep up with a live source (see
   * `SendQueue`), per track: `"video:0"`, `"audio:1"`, ... Only tracks that lost frames appear.
   */
  droppedFrames: Record<string, number>
  /** Bytes the server acknowledged receiving, over all connections. */
  bytesAcknowledged: number
  /** The last round trip time measured with pings, ms; `undefined` while none was (see `Session.rttMs`). */
  rttMs: number | undefined
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
  dropped: 0,
  videoFrames: 0,
  droppedFrames: {},
  bytesAcknowledged: 0,
  rttMs: undefined
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
  /**
   * Window Acknowledgement Size asked of the server (`SessionOptions.windowAckSize`). Default 1 000 000,
   * and 125 000 for live sources, whose sender waits while more than twice this many bytes written are
   * not acknowledged by the server (flow control: see `live`). At 1 Mb/s that is 2 s of media in the
   * network; a live stream of a high bitrate over a long round trip may need more (at most about
   * `2 × windowAckSize` bytes per round trip go through).
   */
  readonly windowAckSize?: number | undefined
  /** Pace frames by their timestamps (like `ffmpeg -re`). Default: as fast as the server takes them. */
  readonly realtime?: boolean | undefined
  /**
   * The source is live: it produces frames at its own pace and cannot wait for a slow connection (a
   * camera, an encoder on stdin, `realtime`). The send queue then drops video when the connection cannot
   * keep up, GOP by GOP, never audio (`SendQueue`, policy `"drop"`); otherwise (files) the source is read
   * only as fast as the connection takes it and nothing is dropped. Default: `realtime`.
   *
   * So that a slow link shows in the send queue rather than in the sockets' buffers (several megabytes on
   * each side, which would hide it for many seconds), a live publish also waits, before each write, while
   * more than `2 × windowAckSize` bytes it wrote are not acknowledged by the server (servers that send no
   * Acknowledgement are not waited for).
   */
  readonly live?: boolean | undefined
  /**
   * Bounds of the send queue between the source and the connection: payload bytes (default 8 MiB) and,
   * for live sources, milliseconds of media (default 1000); see `SendQueue`.
   */
  readonly queue?: { readonly maxBytes?: number | undefined; readonly maxDurationMs?: number | undefined } | undefined
  /** How often `onStats` receives a `Telemetry.Snapshot` and the metrics are updated. Default 1 s. */
  readonly statsInterval?: Duration.Input | undefined
  /** Receives a snapshot every `statsInterval`, and a last one when the publish ends cleanly. */
  readonly onStats?: ((snapshot: Telemetry.Snapshot) => Effect.Effect<void>) | undefined
  /** Attributes of this publish's metrics (`Telemetry.metrics`), e.g. `{ stream: "cam-1" }`. Default none. */
  readonly metricAttributes?: Readonly<Record<string, string>> | undefined
  /** Outgoing chunk size. Default 4096. */
  readonly chunkSize?: number | undefined
  /**
   * The handshake's C1: `"simple"` (what nginx-rtmp, SRS and most ingests expect), `"digest"` (the
   * Flash Player form some CDNs require), or `"auto"` (default): simple first and, when the server
   * rejects it (a `HandshakeError`, or the connection ended before any byte of S0), once more at once
   * with the digest form on a new connection, not counted against `retries`; the digest form is then kept
   * for the rest of the publish.
   */
  readonly handshake?: "simple" | "digest" | "auto" | undefined
  /**
   * Advertise Enhanced RTMP in `connect` (`Commands.enhancedCapabilities`). Default true; false sends the
   * legacy command object only, for old servers that refuse properties they do not know.
   */
  readonly enhanced?: boolean | undefined
  /**
   * Prepend an `onMetaData` made from the first frames when the source does not start with one (MP4
   * inputs, an app's own frames): `Metadata.ensureOnMetaData`. Default true; a source that has its own
   * (FLV) is left as it is.
   */
  readonly metadata?: boolean | undefined
  /**
   * User name and password for ingests that authenticate publishers (`authmod=adobe` or `authmod=llnw`,
   * see `Auth`). Credentials in a URL (`rtmp://user:password@host/app/key`) take precedence for that URL.
   * The authentication round trips (each a new connection) are part of one attempt; wrong credentials
   * fail with `Rejected`, not retried.
   */
  readonly credentials?: Auth.Credentials | undefined
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
 * Payload bytes per write: large for files (fewer, larger vectored writes), small for live sources so
 * that what waits stays in the send queue, where it can still be dropped.
 */
const writeBytes = { wait: 1024 * 1024, drop: 64 * 1024 } as const

/** Read-ahead before connecting: up to the first audio or video frame, but at most this many frames ... */
const readAheadFrames = 100
/** ... or this many payload bytes. */
const readAheadBytes = 1024 * 1024

/** A coded video keyframe of the default track: where a new connection can start. */
const isVideoKeyframe = (frame: MediaFrame): boolean =>
  frame.kind === "video" && frame.keyframe && !frame.config && frame.metadata !== true &&
  frame.endOfSequence !== true && (frame.track ?? 0) === 0

/**
 * Where a reconnect request sends the stream: its `tcUrl` with the same stream key (and credentials),
 * or the same target when it has none or it is not a usable URL.
 */
const reconnectTarget = (target: Url.RtmpUrl, request: Session.ReconnectRequest): Url.RtmpUrl => {
  if (request.tcUrl === undefined || request.tcUrl === "") return target
  const parsed = Url.parseResult(request.tcUrl, { streamKey: target.streamKey })
  return parsed._tag === "Success"
    ? { ...parsed.success, username: target.username ?? parsed.success.username, password: target.password ?? parsed.success.password }
    : target
}

/** The credentials for a target: its URL's own, else the publish's. */
const credentialsOf = (target: Url.RtmpUrl, fallback: Auth.Credentials | undefined): Auth.Credentials | undefined =>
  target.username !== undefined
    ? { username: target.username, password: target.password ?? "", authmod: fallback?.authmod }
    : fallback

/** The target with an authentication query appended to the app and tcUrl of its connect. */
const withQuery = (target: Url.RtmpUrl, query: string): Url.RtmpUrl =>
  query === "" ? target : { ...target, app: target.app + query, tcUrl: target.tcUrl + query }

/**
 * Whether the server rejected a simple handshake, so that the digest form may succeed: it answered
 * something that is not a handshake (`HandshakeError`), or closed the connection before sending any byte
 * of S0. A partial S1, a reset or a timeout are ordinary transient failures, retried as such.
 */
const isHandshakeRejection = (error: PublishError): boolean =>
  error._tag === "HandshakeError" ||
  (error._tag === "UnexpectedEof" && error.phase === "handshake S0" && error.received === 0)

/**
 * Publishes the frames and ends the stream cleanly (FCUnpublish + deleteStream). The frames up to the
 * first audio or video frame (at most 100 frames or 1 MiB) are read before connecting, so an unreadable
 * input, or one whose first media frame is of an unsupported codec, fails without touching the server. Retryable
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
    const described = options.metadata === false ? frames : frames.pipe(Metadata.ensureOnMetaData())
    const policy: SendQueue.Policy = (options.live ?? options.realtime) === true ? "drop" : "wait"
    const buffer = ReplayBuffer.make({ maxBytes: options.replayBufferBytes, retainGop: policy === "wait" })
    const windowAckSize = options.windowAckSize ?? (policy === "drop" ? 125_000 : 1_000_000)
    const maxInFlight = policy === "drop" && windowAckSize > 0 ? 2 * windowAckSize : Infinity
    const maxDurationMs = options.queue?.maxDurationMs ?? SendQueue.defaultMaxDurationMs
    const source = yield* FramePump.start(options.realtime === true ? Realtime.realtime(described) : described, {
      policy,
      maxBytes: options.queue?.maxBytes,
      maxDurationMs
    })
    /** The current attempt's session, while it publishes: the round trip time and acknowledgements. */
    let current: Session.Session | undefined
    let acknowledgedBefore = 0
    const refresh = () => {
      stats.droppedFrames = source.queue.dropped()
      if (current === undefined) return
      stats.bytesAcknowledged = acknowledgedBefore + current.acknowledged()
      stats.rttMs = current.rttMs() ?? stats.rttMs
    }
    const started = yield* Clock.currentTimeMillis
    const sampler = StatsSampler.make({ counters: stats, queue: source.queue, start: started, maxDurationMs })
    let previous: Telemetry.Snapshot | undefined
    const report = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      refresh()
      const snapshot = sampler.sample(now)
      const recorded = Telemetry.record(snapshot, previous, options.metricAttributes)
      previous = snapshot
      return options.onStats === undefined ? recorded : Effect.andThen(recorded, options.onStats(snapshot))
    })
    const interval = Duration.fromInputUnsafe(options.statsInterval ?? Duration.seconds(1))
    yield* report.pipe(Effect.delay(interval), Effect.forever, Effect.forkScoped)

    // Read up to the first audio or video frame before connecting (past leading data frames, within
    // bounds): a missing or unreadable input, or one whose first media frame is of an unsupported codec,
    // fails here with its own error and never starts an empty broadcast on the server.
    let ended = false
    /** Whether the source has had video: a reconnect request then waits for a keyframe. */
    let sawVideo = false
    let readAhead = 0
    let readAheadSize = 0
    while (true) {
      const batch = yield* source.take(readAheadBytes)
      if (batch === undefined) {
        ended = true
        break
      }
      for (const frame of batch) {
        sawVideo ||= frame.kind === "video"
        buffer.push(frame)
        readAhead += 1
        readAheadSize += frame.payload.length
      }
      if (
        batch.some((frame) => frame.kind !== "data") || readAhead >= readAheadFrames || readAheadSize >= readAheadBytes
      ) break
    }
    let handshakeMode: "simple" | "digest" = options.handshake === "digest" ? "digest" : "simple"
    /** Whether the current attempt's handshake completed. */
    let handshaken = false

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
          windowAckSize,
          handshake: { digest: handshakeMode === "digest" },
          enhanced: options.enhanced,
          onHandshake: () => {
            handshaken = true
          }
        })
        publishingSince = yield* Clock.currentTimeMillis
        current = session
        const resumption = buffer.resume()
        stats.dropped += resumption.dropped
        // A live source resumes at a keyframe close to live, not with the outage's backlog (see LiveResume).
        const { entries: replay, skipped } = mediaFlowed && policy === "drop"
          ? LiveResume.plan(resumption.entries, source.queue, sawVideo)
          : { entries: resumption.entries, skipped: 0 }
        stats.dropped += skipped
        if (mediaFlowed) stats.reconnects += 1
        const counted = () => (stats.bytes = bytesBefore + session.bytesSent())
        let finished = false
        yield* Effect.addFinalizer((exit) =>
          Effect.suspend(() => {
            buffer.acknowledge(session.acknowledged())
            counted()
            refresh()
            current = undefined
            acknowledgedBefore = stats.bytesAcknowledged
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
              if (!entry.written) {
                stats.frames += 1
                if (entry.frame.kind === "video" && !entry.frame.config) stats.videoFrames += 1
              }
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
          for (let at = 0; at < replay.length; at += replayBatch) {
            yield* sendEntries(replay.slice(at, at + replayBatch))
          }
          while (!ended) {
            yield* session.awaitInFlight(maxInFlight)
            const batch = yield* Effect.mapError(source.take(writeBytes[policy]), (error) => new SourceFailure(error))
            if (batch === undefined) {
              ended = true
              break
            }
            const request = session.reconnectRequested()
            // Asked to reconnect: go on up to the next video keyframe, which the next connection starts with.
            // Without video (so far), any frame will do: the next connection starts with this batch.
            sawVideo ||= batch.some((frame) => frame.kind === "video")
            const cut = request === undefined ? -1 : sawVideo ? batch.findIndex(isVideoKeyframe) : 0
            const entries = batch.map(buffer.push)
            if (cut < 0) {
              yield* sendEntries(entries)
              continue
            }
            if (cut > 0) yield* sendEntries(entries.slice(0, cut))
            return request
          }
          return undefined
        })
        const request = yield* Effect.raceFirst(media, session.watch)
        const confirmed = yield* session.finish
        finished = true
        // The server confirmed it read everything sent: nothing of it needs re-sending.
        if (confirmed) buffer.acknowledge(session.bytesSent())
        counted()
        yield* connection.close
        return request
      }))

    let step = yield* Schedule.toStep(RetryPolicy.schedule(retries))
    let onFallback = false
    let index = 0
    /** Set when the server asked for (more) authentication: the next round belongs to the same attempt. */
    let authRound: Auth.State | undefined
    /** Set after a reconnect request: the next attempt goes to the same (redirected) target. */
    let sameTarget = false
    while (true) {
      const transport = onFallback && fallback !== undefined ? fallback : primary
      if (authRound === undefined && !sameTarget) index = stats.attempts % targets.length
      if (authRound === undefined) stats.attempts += 1
      sameTarget = false
      stats.transport = transport.name
      publishingSince = undefined
      handshaken = false
      const target = targets[index]!
      const credentials = credentialsOf(target, options.credentials)
      const auth = authRound ?? Auth.initial(credentials)
      if (authRound === undefined) {
        yield* emit({ _tag: "Connecting", attempt: stats.attempts, url: Url.mask(urls[index]!), transport: transport.name })
      }
      authRound = undefined
      const result = yield* Effect.result(attempt(withQuery(target, auth.query), transport))
      if (result._tag === "Success") {
        if (result.success === undefined) break
        // The server asked for a reconnection (not a failure): the same stream, on the URL it gave.
        const redirected = reconnectTarget(target, result.success)
        targets[index] = redirected
        urls[index] = `${redirected.tcUrl}/${redirected.streamKey}`
        sameTarget = true
        continue
      }
      if (result.failure instanceof SourceFailure) return yield* Effect.fail(result.failure.error as E)
      const error = result.failure
      if (error._tag === "Rejected" && error.command === "connect") {
        authRound = Auth.next(auth, error.description, credentials, target.app)
        if (authRound !== undefined) continue
      }
      yield* emit({ _tag: "AttemptFailed", attempt: stats.attempts, error })

      const now = yield* Clock.currentTimeMillis
      // A connection that published long enough starts the count of consecutive failures again.
      if (publishingSince !== undefined && now - publishingSince >= stableAfter) {
        step = yield* Schedule.toStep(RetryPolicy.schedule(retries))
      }
      // --handshake auto: a simple handshake the server rejected is tried once more, digest, at once.
      if ((options.handshake ?? "auto") === "auto" && handshakeMode === "simple" && !handshaken && isHandshakeRejection(error)) {
        handshakeMode = "digest"
        continue
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
    yield* report
    yield* emit({ _tag: "Finished" })
    return stats
  }))

/**
 * A publish as a Stream of its `Telemetry.Snapshot`s: one every `statsInterval` and a last one when the
 * publish ends cleanly, after which the Stream ends; it fails with the publish's error. Running the
 * Stream runs the publish (interrupting it interrupts the publish, which still ends the stream on the
 * server); `onStats`, if given, also receives every snapshot.
 *
 * @since 0.4.0
 */
export const publishStats = <E, R>(
  url: string,
  frames: Stream.Stream<MediaFrame, E, R>,
  options: PublishOptions = {}
): Stream.Stream<Telemetry.Snapshot, PublishError | E, Transport | R> =>
  Stream.callback<Telemetry.Snapshot, PublishError | E, Transport | R>((queue) =>
    publish(url, frames, {
      ...options,
      onStats: (snapshot) =>
        Effect.andThen(Queue.offer(queue, snapshot), options.onStats?.(snapshot) ?? Effect.void)
    }).pipe(
      Effect.exit,
      Effect.flatMap((exit) => Exit.isSuccess(exit) ? Queue.end(queue) : Queue.failCause(queue, exit.cause)),
      Effect.forkScoped
    )
  )
