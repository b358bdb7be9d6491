import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as Url from "../src/Url.ts"

const ok = (url: string, overrides?: Url.Overrides): Url.RtmpUrl => {
  const result = Url.parseResult(url, overrides)
  if (Result.isFailure(result)) throw new Error(`expected ${url} to parse: ${result.failure.reason}`)
  return result.success
}

const bad = (url: string, overrides?: Url.Overrides) => {
  const result = Url.parseResult(url, overrides)
  if (Result.isSuccess(result)) throw new Error(`expected ${url} to be invalid`)
  return result.failure
}

describe("Url.parse", () => {
  it("parses rtmp with the default port", () => {
    assert.deepStrictEqual(ok("rtmp://live.example.com/live/abc123"), {
      protocol: "rtmp",
      host: "live.example.com",
      port: 1935,
      app: "live",
      streamKey: "abc123",
      tcUrl: "rtmp://live.example.com/live"
    })
  })

  it("parses rtmps with the default port 443", () => {
    const url = ok("rtmps://live-api-s.facebook.com/rtmp/FB-123-0-Abc")
    assert.strictEqual(url.protocol, "rtmps")
    assert.strictEqual(url.port, 443)
    assert.strictEqual(url.tcUrl, "rtmps://live-api-s.facebook.com/rtmp")
  })

  it("keeps an explicit port in tcUrl", () => {
    const url = ok("rtmp://127.0.0.1:1935/live/key")
    assert.strictEqual(url.port, 1935)
    assert.strictEqual(url.tcUrl, "rtmp://127.0.0.1:1935/live")
    assert.strictEqual(ok("rtmps://h:8443/a/k").tcUrl, "rtmps://h:8443/a")
  })

  it("takes everything between host and the last segment as app", () => {
    const url = ok("rtmp://h/app/inst/key")
    assert.strictEqual(url.app, "app/inst")
    assert.strictEqual(url.streamKey, "key")
    assert.strictEqual(url.tcUrl, "rtmp://h/app/inst")
  })

  it("keeps the query with the stream key", () => {
    const url = ok("rtmp://a.rtmp.youtube.com/live2/xxxx-yyyy?backup=1&x=/y")
    assert.strictEqual(url.app, "live2")
    assert.strictEqual(url.streamKey, "xxxx-yyyy?backup=1&x=/y")
  })

  it("accepts IPv6 literals in brackets", () => {
    const url = ok("rtmp://[::1]:1936/live/key")
    assert.strictEqual(url.host, "::1")
    assert.strictEqual(url.port, 1936)
    assert.strictEqual(url.tcUrl, "rtmp://[::1]:1936/live")
    const noPort = ok("rtmps://[2001:db8::7]/live/key")
    assert.strictEqual(noPort.host, "2001:db8::7")
    assert.strictEqual(noPort.port, 443)
    assert.strictEqual(noPort.tcUrl, "rtmps://[2001:db8::7]/live")
  })

  it("is case-insensitive in the scheme", () => {
    assert.strictEqual(ok("RTMP://h/a/k").protocol, "rtmp")
  })

  it("keeps credentials out of tcUrl", () => {
    const url = ok("rtmp://user:pa55@h/live/key")
    assert.strictEqual(url.host, "h")
    assert.strictEqual(url.username, "user")
    assert.strictEqual(url.password, "pa55")
    assert.strictEqual(url.tcUrl, "rtmp://h/live")
  })

  it("percent-decodes credentials, and masks them", () => {
    const url = ok("rtmp://us%65r:p%40ss%3Aw@h/live/key")
    assert.strictEqual(url.username, "user")
    assert.strictEqual(url.password, "p@ss:w")
    assert.strictEqual(Url.mask("rtmp://us%65r:p%40ss%3Aw@h/live/key"), "rtmp://****@h/live/****")
    assert.strictEqual(Url.parseResult("rtmp://u:%zz@h/live/key")._tag, "Failure")
  })

  it("applies overrides", () => {
    const key = ok("rtmp://h/live", { streamKey: "secret" })
    assert.strictEqual(key.app, "live")
    assert.strictEqual(key.streamKey, "secret")
    const both = ok("rtmp://h/ignored/x", { app: "app", streamKey: "k" })
    assert.strictEqual(both.app, "app")
    assert.strictEqual(both.streamKey, "k")
    assert.strictEqual(both.tcUrl, "rtmp://h/app")
    const app = ok("rtmp://h/x/key", { app: "live/inst", streamKey: undefined })
    assert.strictEqual(app.app, "live/inst")
    assert.strictEqual(app.streamKey, "key")
    assert.strictEqual(ok("rtmp://h/a/k", { streamKey: "" }).streamKey, "k")
  })

  it("rejects a URL without a stream key, without echoing the lone segment", () => {
    const error = bad("rtmp://h/live")
    assert.strictEqual(error._tag, "InvalidUrl")
    assert.match(error.reason, /stream key is missing/)
    assert.strictEqual(error.url, "rtmp://h/****")
    assert.match(bad("rtmp://h/live/").reason, /stream key is missing/)
    assert.match(bad("rtmp://h").reason, /missing/)
    assert.match(bad("rtmp://h/").reason, /missing/)
  })

  it("rejects other protocols, bad hosts and bad ports", () => {
    assert.match(bad("http://h/a/k").reason, /not supported/)
    assert.match(bad("h/a/k").reason, /rtmp:\/\//)
    assert.match(bad("rtmp://:1935/a/k").reason, /host/)
    assert.match(bad("rtmp://h:0/a/k").reason, /out of range/)
    assert.match(bad("rtmp://h:65536/a/k").reason, /out of range/)
    assert.match(bad("rtmp://h:abc/a/k").reason, /not a number/)
    assert.match(bad("rtmp://h:/a/k").reason, /not a number/)
    assert.match(bad("rtmp://[::1/a/k").reason, /closing/)
    assert.match(bad("rtmp://::1/a/k").reason, /brackets/)
    assert.match(bad("rtmp://h/a b/k").reason, /white space/)
    assert.match(bad("rtmp://h//k").reason, /application name/)
  })

  it("masks the URL in every InvalidUrl", () => {
    const error = bad("rtmp://h:99999/live/supersecret?token=abc")
    assert.notInclude(error.url, "supersecret")
    assert.notInclude(error.url, "token")
    assert.notInclude(error.message, "supersecret")
    assert.notInclude(bad("rtmpx://h/live/supersecret").url, "supersecret")
    assert.notInclude(bad("rtmp:/h/live/supersecret").url, "supersecret")
  })

  it.effect("is an Effect failing with InvalidUrl", () =>
    Effect.gen(function*() {
      const url = yield* Url.parse("rtmp://h/live/key")
      assert.strictEqual(url.streamKey, "key")
      const error = yield* Effect.flip(Url.parse("rtmp://h/live"))
      assert.strictEqual(error._tag, "InvalidUrl")
    }))
})

describe("Url.mask", () => {
  it("replaces the stream key, its query and credentials", () => {
    assert.strictEqual(Url.mask("rtmp://h/live/abc"), "rtmp://h/live/****")
    assert.strictEqual(Url.mask("rtmp://h:1935/app/inst/abc?x=1/2"), "rtmp://h:1935/app/inst/****")
    assert.strictEqual(Url.mask("rtmp://u:p@h/live/abc"), "rtmp://****@h/live/****")
    assert.strictEqual(Url.mask("rtmp://h/live?token=t"), "rtmp://h/live?****")
    assert.strictEqual(Url.mask("rtmp://h/live"), "rtmp://h/live")
    assert.strictEqual(Url.mask("rtmp://[::1]:1935/live/k"), "rtmp://[::1]:1935/live/****")
    assert.strictEqual(Url.mask("not a url"), "****")
    assert.strictEqual(Url.mask("rtmp:/h/live/key"), "rtmp:/h/live/****")
  })

  it("toMaskedString shows tcUrl and a masked key", () => {
    assert.strictEqual(Url.toMaskedString(ok("rtmp://h/live/abc?x")), "rtmp://h/live/****")
  })
})

describe("Url.maskText", () => {
  it("replaces every occurrence of the secret", () => {
    assert.strictEqual(Url.maskText("key abc and abc again", "abc"), "key **** and **** again")
    assert.strictEqual(Url.maskText("unchanged", ""), "unchanged")
  })

  it("also masks the key without its query and its URL-encoded form", () => {
    assert.strictEqual(Url.maskText("publish secret1 failed", "secret1?x=1"), "publish **** failed")
    assert.strictEqual(Url.maskText("a b%2Fc", "b/c"), "a ****")
  })
})
