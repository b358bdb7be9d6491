/**
 * Publisher authentication: the Adobe and Limelight responses against values computed by hand (Python's
 * hashlib), and the flows against a scripted server that follows them as AMS/Wowza and Limelight do.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { createHash } from "node:crypto"
import * as Amf0 from "../src/Amf0.ts"
import * as Auth from "../src/Auth.ts"
import type { MediaFrame } from "../src/MediaFrame.ts"
import * as Publisher from "../src/Publisher.ts"
import * as Url from "../src/Url.ts"
import * as ScriptedServer from "./support/ScriptedServer.ts"

const frames: ReadonlyArray<MediaFrame> = [
  {
    kind: "data",
    codec: "amf0",
    dts: 0,
    cts: 0,
    keyframe: false,
    config: false,
    payload: Amf0.encode(["onMetaData", new Amf0.Amf0EcmaArray({ width: 320 })])
  },
  { kind: "video", codec: "avc", dts: 0, cts: 0, keyframe: true, config: true, payload: Uint8Array.of(1, 2, 3) },
  { kind: "video", codec: "avc", dts: 40, cts: 0, keyframe: true, config: false, payload: Uint8Array.of(4, 5, 6) }
]

describe("Auth responses (hand-computed with Python hashlib)", () => {
  it("adobe: base64(md5(base64(md5(user+salt+password)) + opaque + client challenge))", () => {
    const input = { username: "alice", password: "s3cret", salt: "Xy12", challenge: "ch4ll", clientChallenge: "0a1b2c3d" }
    assert.strictEqual(Auth.adobeResponse({ ...input, opaque: "op4que" }), "TNNW12adNbPI1rnf9X5lTA==")
    // No opaque: the server's challenge takes its place.
    assert.strictEqual(Auth.adobeResponse(input), "4yrARkJ1VxM1cfMxaWXwDQ==")
    assert.strictEqual(
      Auth.adobeQuery({ ...input, opaque: "op4que" }),
      "?authmod=adobe&user=alice&challenge=0a1b2c3d&response=TNNW12adNbPI1rnf9X5lTA==&opaque=op4que"
    )
  })

  it("llnw: md5(HA1:nonce:nc:cnonce:auth:HA2), HA2 with /_definst_ for a one-segment app", () => {
    const input = { username: "bob", password: "hunter2", nonce: "n0nce", cnonce: "deadbeef" }
    assert.strictEqual(Auth.llnwResponse({ ...input, app: "live" }), "bc831e4f783f3c9bd9dc5772375c2611")
    assert.strictEqual(Auth.llnwResponse({ ...input, app: "live/inst" }), "a9df8de1960d164f7a193cd70d6246f9")
    assert.strictEqual(
      Auth.llnwQuery({ ...input, app: "live" }),
      "?authmod=llnw&user=bob&nonce=n0nce&cnonce=deadbeef&nc=00000001&response=bc831e4f783f3c9bd9dc5772375c2611"
    )
  })

  it("next: the rounds of the flow, and final rejections", () => {
    const credentials = { username: "alice", password: "s3cret" }
    const start = Auth.initial(credentials)
    assert.deepStrictEqual(start, { query: "", responded: false })
    const second = Auth.next(start, "[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ", credentials, "live")
    assert.deepStrictEqual(second, { query: "?authmod=adobe&user=alice", responded: false })
    const third = Auth.next(
      second!,
      "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=alice&salt=Xy12&challenge=ch4ll&opaque=op4que",
      credentials,
      "live",
      () => "0a1b2c3d"
    )
    assert.deepStrictEqual(third, {
      query: "?authmod=adobe&user=alice&challenge=0a1b2c3d&response=TNNW12adNbPI1rnf9X5lTA==&opaque=op4que",
      responded: true
    })
    // After the response round, any rejection is final; so are authfailed, nosuchuser, no credentials.
    assert.isUndefined(Auth.next(third!, "authmod=adobe ?reason=needauth&salt=a", credentials, "live"))
    assert.isUndefined(Auth.next(second!, "[ authmod=adobe ] : ?reason=authfailed", credentials, "live"))
    assert.isUndefined(Auth.next(second!, "[ authmod=adobe ] : ?reason=nosuchuser", credentials, "live"))
    assert.isUndefined(Auth.next(start, "code=403 need auth; authmod=adobe", undefined, "live"))
    assert.isUndefined(Auth.next(start, "Connection rejected.", credentials, "live"))
  })
})

const md5 = (text: string) => createHash("md5").update(text).digest()

/**
 * The parameters of the query of `app` (the connect command object's app), taken as they are, with no
 * percent or `+` decoding: the base64 response may hold `+`, `/` and `=`, sent raw as FFmpeg does.
 */
const queryOf = (app: string): Map<string, string> =>
  new Map(
    (app.includes("?") ? app.slice(app.indexOf("?") + 1).split("&") : []).map((pair) => {
      const eq = pair.indexOf("=")
      return [pair.slice(0, eq), pair.slice(eq + 1)] as const
    })
  )

const rejected = (description: string): ScriptedServer.Reply => ({
  _error: { level: "error", code: "NetConnection.Connect.Rejected", description }
})

/**
 * An Adobe-auth ingest: app `live`, user alice with `password`, salt/challenge/opaque as given; checks the
 * response as the server computes it.
 */
const adobeServer = (password: string) =>
  ScriptedServer.make({
    connect: (message) => {
      const object = message.amf![2] as { app: string; tcUrl: string }
      const query = queryOf(object.app)
      if (query.get("authmod") !== "adobe") return rejected("[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ")
      if (!query.has("response")) {
        return rejected(
          `[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=${query.get("user")}&salt=Xy12&challenge=ch4ll&opaque=op4que`
        )
      }
      const expected = md5(md5(`alice${"Xy12"}${password}`).toString("base64") + "op4que" + query.get("challenge"))
        .toString("base64")
      return query.get("user") === "alice" && query.get("opaque") === "op4que" && query.get("response") === expected
        ? "accept"
        : rejected("[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed&opaque=op4que")
    }
  })

const connects = (server: ScriptedServer.ScriptedServer) =>
  server.messages().filter((m) => m.command === "connect").map((m) => m.amf![2] as { app: string; tcUrl: string })

describe("Publisher authentication", () => {
  it.effect("adobe, credentials in the URL: need auth, challenge, response; one attempt over three connections", () =>
    Effect.gen(function*() {
      const server = adobeServer("s3cret")
      const events: Array<Publisher.PublishEvent> = []
      const stats = yield* Publisher.publish("rtmp://alice:s3cret@host/live/key", Stream.fromIterable(frames), {
        onEvent: (event) => Effect.sync(() => void events.push(event))
      }).pipe(Effect.provide(server.layer), Effect.ensuring(server.settled))
      assert.strictEqual(stats.attempts, 1)
      assert.strictEqual(server.connections(), 3)
      const [first, second, third] = connects(server)
      assert.deepStrictEqual(first, { ...first!, app: "live", tcUrl: "rtmp://host/live" })
      assert.strictEqual(second!.app, "live?authmod=adobe&user=alice")
      assert.strictEqual(second!.tcUrl, "rtmp://host/live?authmod=adobe&user=alice")
      const query = queryOf(third!.app)
      assert.match(query.get("challenge")!, /^[0-9a-f]{8}$/)
      assert.strictEqual(
        third!.app,
        `live?authmod=adobe&user=alice&challenge=${query.get("challenge")}&response=${
          Auth.adobeResponse({ username: "alice", password: "s3cret", salt: "Xy12", opaque: "op4que", clientChallenge: query.get("challenge")! })
        }&opaque=op4que`
      )
      assert.strictEqual(third!.tcUrl, `rtmp://host/${third!.app}`)
      // The stream key is untouched, the password never sent.
      assert.deepStrictEqual(server.messages().find((m) => m.command === "publish")!.amf!.slice(3), ["key", "live"])
      assert.isFalse(server.messages().some((m) => JSON.stringify(m.amf ?? []).includes("s3cret")))
      // One logical attempt: one Connecting (masked), no AttemptFailed.
      assert.deepStrictEqual(events.map((e) => e._tag), ["Connecting", "Publishing", "Finished"])
      assert.deepStrictEqual(events[0], { _tag: "Connecting", attempt: 1, url: "rtmp://****@host/live/****", transport: "memory" })
      assert.strictEqual(Url.mask("rtmp://alice:s3cret@host/live/key"), "rtmp://****@host/live/****")
    }))

  it.effect("adobe, wrong password: Rejected after the response round, one attempt even with retries", () =>
    Effect.gen(function*() {
      const server = adobeServer("s3cret")
      const stats = Publisher.makeStats()
      const error = yield* Publisher.publish("rtmp://host/live/key", Stream.fromIterable(frames), {
        credentials: { username: "alice", password: "wrong", authmod: "adobe" },
        retries: 3,
        stats
      }).pipe(Effect.provide(server.layer), Effect.ensuring(server.settled), Effect.flip)
      assert.strictEqual(error._tag, "Rejected")
      assert.include((error as { description: string }).description, "reason=authfailed")
      assert.strictEqual(stats.attempts, 1)
      // authmod known: no unauthenticated round.
      assert.strictEqual(server.connections(), 2)
      assert.strictEqual(connects(server)[0]!.app, "live?authmod=adobe&user=alice")
    }))

  it.effect("llnw, credentials in options: nonce, then the digest response", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({
        connect: (message) => {
          const query = queryOf((message.amf![2] as { app: string }).app)
          if (query.get("authmod") !== "llnw") return rejected("[ AccessManager.Reject ] : [ code=403 need auth; authmod=llnw ] : ")
          if (!query.has("response")) return rejected("[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=needauth&user=bob&nonce=n0nce")
          const expected = Auth.llnwResponse({
            username: "bob",
            password: "hunter2",
            app: "live",
            nonce: "n0nce",
            cnonce: query.get("cnonce")!
          })
          return query.get("nc") === "00000001" && query.get("response") === expected ? "accept" : rejected("authmod=llnw ?reason=authfailed")
        }
      })
      const stats = yield* Publisher.publish("rtmp://host/live/key", Stream.fromIterable(frames), {
        credentials: { username: "bob", password: "hunter2" }
      }).pipe(Effect.provide(server.layer), Effect.ensuring(server.settled))
      assert.strictEqual(stats.attempts, 1)
      assert.strictEqual(server.connections(), 3)
      assert.strictEqual(connects(server)[1]!.app, "live?authmod=llnw&user=bob")
      assert.match(queryOf(connects(server)[2]!.app).get("cnonce")!, /^[0-9a-f]{8}$/)
    }))

  it.effect("a plain rejection of connect is not taken for an authentication request", () =>
    Effect.gen(function*() {
      const server = ScriptedServer.make({ connect: ScriptedServer.connectRejected })
      const error = yield* Publisher.publish("rtmp://alice:pw@host/live/key", Stream.fromIterable(frames), { retries: 2 }).pipe(
        Effect.provide(server.layer),
        Effect.ensuring(server.settled),
        Effect.flip
      )
      assert.strictEqual(error._tag, "Rejected")
      assert.strictEqual(server.connections(), 1)
    }))
})
