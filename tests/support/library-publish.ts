/**
 * A program that uses the library as an application would, run in a child process by the fault tests:
 * publishes a file with `Publisher.publish` and prints one JSON line when the publish settles, then lets
 * the process end by itself (no `process.exit`): how long the process outlives the publish tells whether a
 * socket was left holding the event loop.
 *
 * Run it with Node 24 and `--conditions=source` (the packages' TypeScript sources, types stripped):
 * `node --conditions=source library-publish.ts <coroutine|blocking> <file> <url> <timeoutSeconds> [caFile]`
 *
 * Prints `{ "settledAt": <ms>, "status": "ok" | "failed", "error": { "_tag": ..., ... } }`.
 */
import { MediaSource, Publisher } from "@effect-rtmp/core"
import { layerBlocking, layerCoroutine } from "@effect-rtmp/transport"
import { Effect } from "effect"
import * as fs from "node:fs"

const [transport, file, url, timeout, ca] = process.argv.slice(2)
if (file === undefined || url === undefined || timeout === undefined) {
  throw new Error("usage: library-publish.ts <coroutine|blocking> <file> <url> <timeoutSeconds> [caFile]")
}

const result = await Effect.runPromise(
  Effect.result(
    Publisher.publish(url, MediaSource.frames(file), {
      timeout: `${Number(timeout)} seconds`,
      tls: ca === undefined ? undefined : { ca: [fs.readFileSync(ca, "utf8")] }
    }).pipe(Effect.provide(transport === "blocking" ? layerBlocking : layerCoroutine))
  )
)
const settledAt = Date.now()
const error = result._tag === "Failure"
  ? { ...result.failure, _tag: result.failure._tag, message: result.failure.message }
  : undefined
console.log(JSON.stringify({ settledAt, status: error === undefined ? "ok" : "failed", ...(error === undefined ? {} : { error }) }))
