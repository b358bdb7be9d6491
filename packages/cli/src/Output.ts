/**
 * What the CLI prints: JSON lines on stdout with `--json`, otherwise a one-line progress display and
 * readable results on stderr. Every string value (JSON) or line (text) goes through the stream-key mask.
 *
 * @since 0.1.0
 */
import type { Publisher, Telemetry } from "@effect-rtmp/core"
import { Url } from "@effect-rtmp/core"
import { Effect } from "effect"
import { errorJson } from "./ErrorJson.ts"

/**
 * The printer of one CLI run.
 *
 * @since 0.1.0
 */
export interface Output {
  readonly event: (event: Publisher.PublishEvent) => Effect.Effect<void>
  readonly progress: (snapshot: Telemetry.Snapshot) => Effect.Effect<void>
  readonly summary: (stats: Publisher.PublishStats, elapsedMs: number, error: unknown) => Effect.Effect<void>
}

/** Fields whose values come from a fixed vocabulary (ours or RTMP's), never from a URL or the server's text. */
const fixedFields: ReadonlySet<string> = new Set(["event", "status", "transport", "_tag", "phase", "code", "signal"])

/**
 * Makes the printer. Every secret (the stream key of each URL: the primary and the backups) is masked in
 * every line.
 *
 * @since 0.1.0
 */
export const make = (options: { readonly json: boolean; readonly secrets: ReadonlyArray<string> }): Output => {
  const secrets = options.secrets.filter((secret) => secret !== "").sort((a, b) => b.length - a.length)
  const mask = (text: string) => secrets.reduce((masked, secret) => Url.maskText(masked, secret), text)
  const stderr = (text: string) => Effect.sync(() => void process.stderr.write(mask(text)))
  const tty = process.stderr.isTTY === true
  let progressShown = false
  let lastFailure = ""
  /** The attempt a `Reconnecting` line already announced. */
  let announced = 0

  if (options.json) {
    // Masked value by value, never the serialized line: field names and fixed values stay intact whatever
    // the key (a key "o" must not turn "transport" into "transp****rt").
    const json = (value: Record<string, unknown>) =>
      Effect.sync(() =>
        void process.stdout.write(
          JSON.stringify(value, (key, v) => typeof v === "string" && !fixedFields.has(key) ? mask(v) : v) + "\n"
        )
      )
    return {
      event: (event) => json(eventJson(event)),
      progress: (snapshot) =>
        json({
          event: "progress",
          frames: snapshot.frames,
          bytes: snapshot.bytes,
          mediaTime: snapshot.mediaTime,
          bitrate: snapshot.bitrate,
          inputBitrate: snapshot.inputBitrate,
          fps: snapshot.fps,
          queue: snapshot.queue,
          droppedFrames: snapshot.droppedFrames,
          rttMs: snapshot.rttMs ?? null,
          bytesAcknowledged: snapshot.bytesAcknowledged,
          recommendedBitrate: snapshot.recommendedBitrate ?? null,
          reconnects: snapshot.reconnects,
          elapsedMs: snapshot.elapsedMs,
          rssBytes: process.memoryUsage.rss()
        }),
      summary: (stats, elapsedMs, error) =>
        json({
          event: "summary",
          status: error === undefined ? "ok" : "failed",
          frames: stats.frames,
          bytes: stats.bytes,
          attempts: stats.attempts,
          reconnects: stats.reconnects,
          dropped: stats.dropped,
          droppedFrames: stats.droppedFrames,
          bytesAcknowledged: stats.bytesAcknowledged,
          rttMs: stats.rttMs ?? null,
          transport: stats.transport ?? null,
          elapsedMs,
          ...(error === undefined ? {} : { error: errorJson(error) })
        })
    }
  }

  const clearProgress = () =>
    Effect.suspend(() => {
      if (!progressShown) return Effect.void
      progressShown = false
      return stderr("\n")
    })
  return {
    event: (event) => {
      switch (event._tag) {
        // A failed attempt is told when a retry follows; the last failure is the summary's error line.
        case "AttemptFailed":
          return Effect.sync(() => void (lastFailure = event.error.message))
        case "Reconnecting":
          announced = event.attempt
          return clearProgress().pipe(
            Effect.andThen(stderr(`connection lost: ${event.error.message}\nreconnecting (attempt ${event.attempt})\n`))
          )
        case "Connecting":
          return event.attempt > 1 && event.attempt !== announced
            ? clearProgress().pipe(Effect.andThen(stderr(`attempt ${event.attempt - 1} failed: ${lastFailure}\nretrying (attempt ${event.attempt})\n`)))
            : Effect.void
        default:
          return Effect.void
      }
    },
    progress: (snapshot) => {
      if (!tty) return Effect.void
      progressShown = true
      return stderr(`\r${progressLine(snapshot)}\x1b[K`)
    },
    summary: (stats, elapsedMs, error) =>
      clearProgress().pipe(Effect.andThen(
        error === undefined
          ? stderr(
            `published ${stats.frames} frames, ${formatBytes(stats.bytes)} in ${(elapsedMs / 1000).toFixed(1)} s` +
              `${recovered(stats)} over ${stats.transport}\n`
          )
          : stderr(`error: ${messageOf(error)}\n`)
      ))
  }
}

const eventJson = (event: Publisher.PublishEvent): Record<string, unknown> => {
  switch (event._tag) {
    case "Connecting":
      return { event: "connecting", attempt: event.attempt, url: event.url, transport: event.transport }
    case "Publishing":
      return { event: "publishing", streamId: event.streamId }
    case "AttemptFailed":
      return { event: "attempt_failed", attempt: event.attempt, error: errorJson(event.error) }
    case "Reconnecting":
      return { event: "reconnecting", attempt: event.attempt, error: errorJson(event.error) }
    case "Finished":
      return { event: "finished" }
  }
}

/**
 * `00:01:23  frames 2490  5.98 Mb/s  61.2 MB  30 fps  queue 0.12 s  rtt 3 ms`, then, when there are,
 * `  dropped video:0 120` and `  try 2.10 Mb/s`: elapsed time, frames, the bitrate of the last interval,
 * bytes, frame rate, the send queue's media time, round trip time, congestion drops per track and the
 * bitrate recommendation.
 *
 * @since 0.1.0
 */
export const progressLine = (snapshot: Telemetry.Snapshot): string => {
  const s = Math.floor(snapshot.elapsedMs / 1000)
  const clock = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60].map((n) => String(n).padStart(2, "0")).join(":")
  const drops = Object.entries(snapshot.droppedFrames).map(([track, n]) => `${track} ${n}`).join(", ")
  return [
    clock,
    `frames ${snapshot.frames}`,
    formatBitrate(snapshot.bitrate),
    formatBytes(snapshot.bytes),
    `${Math.round(snapshot.fps)} fps`,
    `queue ${(snapshot.queue.durationMs / 1000).toFixed(2)} s`,
    ...(snapshot.rttMs === undefined ? [] : [`rtt ${snapshot.rttMs} ms`]),
    ...(drops === "" ? [] : [`dropped ${drops}`]),
    ...(snapshot.recommendedBitrate === undefined ? [] : [`try ${formatBitrate(snapshot.recommendedBitrate)}`])
  ].join("  ")
}

const formatBitrate = (bitsPerSecond: number): string => `${(bitsPerSecond / 1e6).toFixed(2)} Mb/s`

/**
 * ` (1 reconnect, 12 frames not re-sent, 240 frames dropped by congestion)`, each part when it applies;
 * empty when none does.
 */
const recovered = (stats: Publisher.PublishStats): string => {
  const congestion = Object.values(stats.droppedFrames).reduce((sum, n) => sum + n, 0)
  const parts = [
    ...(stats.reconnects === 0 ? [] : [`${stats.reconnects} reconnect${stats.reconnects === 1 ? "" : "s"}`]),
    ...(stats.dropped === 0 ? [] : [`${stats.dropped} frames not re-sent`]),
    ...(congestion === 0 ? [] : [`${congestion} frames dropped by congestion`])
  ]
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`
}

const formatBytes = (n: number): string =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)
