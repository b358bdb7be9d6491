/**
 * Stream-key masking keeps `--json` output parseable and its fixed values intact, whatever the key: a key
 * that is a common substring ("o") must not garble field names or values such as "coroutine".
 */
import { describe, expect, it } from "vitest"
import { freePort, runCli } from "./support/index.ts"

describe("--json masking", () => {
  it.each(["o", "co", "handshake"])("key %j: every line parses, fixed fields intact, the key masked in URLs", async (key) => {
    const port = await freePort()
    const url = `rtmp://127.0.0.1:${port}/live/${key}`
    const run = await runCli(["publish", "samples/sample.flv", url, "--json"])
    expect(run.code).toBe(1)
    expect(run.events.length).toBeGreaterThanOrEqual(3)
    expect(run.summary).toMatchObject({
      event: "summary",
      status: "failed",
      transport: "coroutine",
      error: { _tag: "ConnectFailed", code: "ECONNREFUSED", port }
    })
    const connecting = run.events.find((e) => e.event === "connecting")
    expect(connecting?.url).toBe(`rtmp://127.0.0.1:${port}/live/****`)
  })
})
