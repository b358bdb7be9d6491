/**
 * `MediaSource.fromFile`: the bytes of a file, in 256 KiB chunks, and its read errors as `InvalidMedia`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as MediaSource from "../src/MediaSource.ts"
import { InvalidMedia } from "../src/RtmpError.ts"
import { bytes } from "./support/frames.ts"

const withFile = (content: Uint8Array) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-rtmp-file-"))
  const file = path.join(dir, "input.bin")
  fs.writeFileSync(file, content)
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

describe("MediaSource.fromFile", () => {
  it.effect("a 600 KiB file: chunks of 256 KiB, 256 KiB and the rest, which make up the file", () =>
    Effect.gen(function*() {
      const content = bytes(600 * 1024, 7)
      const { file, remove } = withFile(content)
      const chunks = yield* Stream.runCollect(MediaSource.fromFile(file)).pipe(Effect.ensuring(Effect.sync(remove)))
      assert.deepStrictEqual(chunks.map((c) => c.length), [256 * 1024, 256 * 1024, 88 * 1024])
      assert.deepStrictEqual(Buffer.concat(chunks), Buffer.from(content))
    }))

  it.effect("an empty file: no chunk", () =>
    Effect.gen(function*() {
      const { file, remove } = withFile(new Uint8Array(0))
      const chunks = yield* Stream.runCollect(MediaSource.fromFile(file)).pipe(Effect.ensuring(Effect.sync(remove)))
      assert.strictEqual(chunks.length, 0)
    }))

  it.effect("a missing file or a directory: InvalidMedia naming it, with the reason", () =>
    Effect.gen(function*() {
      const missing = yield* Stream.runCollect(MediaSource.fromFile("/nonexistent/show.flv")).pipe(Effect.flip)
      assert.instanceOf(missing, InvalidMedia)
      assert.deepStrictEqual([missing.source, missing.reason], ["/nonexistent/show.flv", "no such file"])
      const directory = yield* Stream.runCollect(MediaSource.fromFile(os.tmpdir())).pipe(Effect.flip)
      assert.strictEqual(directory.reason, "is a directory, not a file")
    }))

  it.effect("taking only the first chunk closes the file (no descriptor left open)", () =>
    Effect.gen(function*() {
      const { file, remove } = withFile(bytes(1024 * 1024, 3))
      const open = () => fs.readdirSync("/proc/self/fd").length
      const before = open()
      const first = yield* Stream.runCollect(Stream.take(MediaSource.fromFile(file), 1))
      assert.strictEqual(first[0]!.length, 256 * 1024)
      assert.strictEqual(open(), before)
      remove()
    }))
})
