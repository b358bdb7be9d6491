/**
 * RTMP URLs: `rtmp://host[:port]/app[/instance]/streamKey[?query]` and `rtmps://...`.
 *
 * The stream key is the last path segment together with any `?query`; the application name (`app`) is
 * everything between the host and the last segment. The key is a secret: {@link mask} and
 * {@link maskText} remove it from anything that may be shown or logged.
 *
 * @since 0.1.0
 */
import { Effect, Result } from "effect"
import { InvalidUrl } from "./RtmpError.ts"

/**
 * A parsed publishing URL.
 *
 * - `host` is the name or address to connect to; an IPv6 literal is given without its brackets.
 * - `port` is the explicit port, or 1935 for `rtmp` and 443 for `rtmps`.
 * - `app` is the application name sent in `connect` (may contain `/`, for example `app/instance`).
 * - `streamKey` is the publishing name sent in `releaseStream`/`FCPublish`/`publish`, query included.
 * - `tcUrl` is the `tcUrl` of the `connect` command: `rtmp[s]://host[:port]/app`, the port only when the
 *   input URL had one.
 * - `username`/`password` are present only when the URL had `user[:password]@` credentials (percent-decoded);
 *   they are not part of `tcUrl`. The publisher authenticates with them (see `Auth`).
 *
 * @since 0.1.0
 */
export interface RtmpUrl {
  readonly protocol: "rtmp" | "rtmps"
  readonly host: string
  readonly port: number
  readonly app: string
  readonly streamKey: string
  readonly tcUrl: string
  readonly username?: string | undefined
  readonly password?: string | undefined
}

/**
 * Values that take precedence over what the URL says, like FFmpeg's `-rtmp_app` and `-rtmp_playpath`.
 * An empty string counts as absent.
 *
 * - `streamKey` given: the whole URL path is the app (unless `app` is given too), so `rtmp://host/live`
 *   is accepted.
 * - `app` given: the app comes from here, and the stream key is still the last path segment of the URL
 *   (unless `streamKey` is given too).
 *
 * @since 0.1.0
 */
export interface Overrides {
  readonly app?: string | undefined
  readonly streamKey?: string | undefined
}

/**
 * The default TCP port of each protocol: 1935 for `rtmp`, 443 for `rtmps`.
 *
 * @since 0.1.0
 */
export const defaultPort = { rtmp: 1935, rtmps: 443 } as const

/**
 * The text that replaces secrets in masked output.
 *
 * @since 0.1.0
 */
export const MASK = "****"

/**
 * Parses an RTMP URL synchronously. Use it where no Effect is at hand (argument parsing); otherwise
 * use {@link parse}. The `url` of the `InvalidUrl` failure is masked.
 *
 * @since 0.1.0
 */
export const parseResult = (url: string, overrides?: Overrides): Result.Result<RtmpUrl, InvalidUrl> => {
  const fail = (reason: string, masked: string = mask(url)) => Result.fail(new InvalidUrl({ url: masked, reason }))
  const trimmed = url.trim()
  const schemeEnd = trimmed.indexOf("://")
  if (schemeEnd < 0) return fail("it does not start with rtmp:// or rtmps://")
  const scheme = trimmed.slice(0, schemeEnd).toLowerCase()
  if (scheme !== "rtmp" && scheme !== "rtmps") {
    return fail(`the protocol ${JSON.stringify(scheme)} is not supported (only rtmp and rtmps)`)
  }
  const protocol: "rtmp" | "rtmps" = scheme
  const rest = trimmed.slice(schemeEnd + 3)
  if (/[\s\u0000-\u001f\u007f]/.test(rest)) return fail("it contains white space or control characters")

  // Authority: up to the first "/" or "?" (a query directly after the host belongs to no path).
  let authorityEnd = rest.length
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i)
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) {
      authorityEnd = i
      break
    }
  }
  let authority = rest.slice(0, authorityEnd)
  const pathAndQuery = rest.slice(authorityEnd)

  let username: string | undefined
  let password: string | undefined
  const at = authority.lastIndexOf("@")
  if (at >= 0) {
    const userinfo = authority.slice(0, at)
    authority = authority.slice(at + 1)
    const colon = userinfo.indexOf(":")
    username = colon < 0 ? userinfo : userinfo.slice(0, colon)
    password = colon < 0 ? undefined : userinfo.slice(colon + 1)
    if (username === "") return fail("the credentials before @ have no user name")
    // Percent-encoded, as in any URL: "p%40ss" is "p@ss".
    try {
      username = decodeURIComponent(username)
      password = password === undefined ? undefined : decodeURIComponent(password)
    } catch {
      return fail("the credentials before @ are not validly percent-encoded")
    }
  }

  // Host and port; an IPv6 literal is in brackets.
  let host: string
  let hostForUrl: string
  let portText: string | undefined
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]")
    if (close < 0) return fail("the IPv6 address has no closing ]")
    host = authority.slice(1, close)
    if (host === "" || !/^[0-9a-fA-F:.]+(%[\w.~-]+)?$/.test(host) || !host.includes(":")) {
      return fail(`[${host}] is not an IPv6 address`)
    }
    hostForUrl = `[${host}]`
    const after = authority.slice(close + 1)
    if (after !== "") {
      if (!after.startsWith(":")) return fail("unexpected characters after the IPv6 address")
      portText = after.slice(1)
    }
  } else {
    if (authority.indexOf(":") !== authority.lastIndexOf(":")) {
      return fail("an IPv6 address must be written in brackets, like [::1]")
    }
    const colon = authority.indexOf(":")
    if (colon >= 0) {
      host = authority.slice(0, colon)
      portText = authority.slice(colon + 1)
    } else {
      host = authority
    }
    if (host === "") return fail("the host is missing")
    if (!/^[A-Za-z0-9._~%!$&'()*+,;=-]+$/.test(host)) return fail(`the host ${JSON.stringify(host)} is not valid`)
    hostForUrl = host
  }
  let port: number = defaultPort[protocol]
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) return fail(`the port ${JSON.stringify(portText)} is not a number`)
    port = Number(portText)
    if (port < 1 || port > 65535) return fail(`the port ${port} is out of range 1..65535`)
  }

  // Path and query: the query belongs to the stream key.
  const q = pathAndQuery.indexOf("?")
  const path = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q)
  const query = q < 0 ? "" : pathAndQuery.slice(q)
  const segments = path === "" ? [] : path.slice(1).split("/")

  const appOverride = overrides?.app === "" ? undefined : overrides?.app
  const keyOverride = overrides?.streamKey === "" ? undefined : overrides?.streamKey

  let app: string
  let streamKey: string
  if (keyOverride !== undefined) {
    streamKey = keyOverride
    app = appOverride ?? segments.join("/")
  } else {
    if (segments.length < 2) {
      if (segments.length === 0 || segments[0] === "") {
        return fail("the application name and the stream key are missing")
      }
      // The single segment may well be a stream key typed without its app: keep it out of the error.
      return fail(
        "the stream key is missing (expected rtmp://host/app/streamKey)",
        `${protocol}://${hostForUrl}${portText !== undefined ? `:${portText}` : ""}/${MASK}`
      )
    }
    const last = segments[segments.length - 1]!
    if (last === "") return fail("the stream key is missing (the URL ends with /)")
    streamKey = last + query
    app = appOverride ?? segments.slice(0, -1).join("/")
  }
  if (app === "") return fail("the application name is missing (expected rtmp://host/app/streamKey)")
  if (appOverride === undefined && app.split("/").some((s) => s === "")) {
    return fail("the application name has an empty path segment (//)")
  }

  const tcUrl = `${protocol}://${hostForUrl}${portText !== undefined ? `:${port}` : ""}/${app}`
  const parsed: RtmpUrl = username === undefined
    ? { protocol, host, port, app, streamKey, tcUrl }
    : { protocol, host, port, app, streamKey, tcUrl, username, password }
  return Result.succeed(parsed)
}

/**
 * Parses an RTMP URL: `rtmp://host[:port]/app[/more]/streamKey[?query]` or `rtmps://...`, with optional
 * {@link Overrides} for the app and the stream key. Fails with `InvalidUrl` (its `url` masked) when the URL is
 * not usable for publishing: another protocol, no host, a bad port, no app, no stream key.
 *
 * @since 0.1.0
 */
export const parse = (url: string, overrides?: Overrides): Effect.Effect<RtmpUrl, InvalidUrl> =>
  Effect.suspend(() => Effect.fromResult(parseResult(url, overrides)))

/**
 * Hides the secrets of a URL: the stream key with its query, the query of a key-less URL, and any
 * `user:password@` credentials are each replaced by `****`. Works on any string (also one that does not
 * parse): use it for every URL put in a log, an event or an error.
 *
 * `mask("rtmp://h/live/abc?x=1")` is `"rtmp://h/live/****"`.
 *
 * @since 0.1.0
 */
export const mask = (url: string): string => {
  const schemeEnd = url.indexOf("://")
  if (schemeEnd < 0) return maskPath(url, 0)
  const start = schemeEnd + 3
  let authorityEnd = url.length
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === 0x2f || c === 0x3f) {
      authorityEnd = i
      break
    }
  }
  let authority = url.slice(start, authorityEnd)
  const at = authority.lastIndexOf("@")
  if (at >= 0) authority = `${MASK}@${authority.slice(at + 1)}`
  const tail = url.slice(authorityEnd)
  const q = tail.indexOf("?")
  const path = q < 0 ? tail : tail.slice(0, q)
  const segments = path === "" ? 0 : path.slice(1).split("/").length
  let maskedTail: string
  if (segments >= 2) {
    maskedTail = maskPath(tail, 0)
  } else if (q >= 0) {
    maskedTail = `${path}?${MASK}`
  } else {
    maskedTail = tail
  }
  return `${url.slice(0, start)}${authority}${maskedTail}`
}

/** Masks the last "/" segment and any query of a path-like string; no "/" at all masks everything. */
const maskPath = (text: string, from: number): string => {
  const q = text.indexOf("?", from)
  const base = q < 0 ? text : text.slice(0, q)
  const slash = base.lastIndexOf("/")
  if (slash < from) return text.length === 0 ? text : MASK
  const key = text.slice(slash + 1)
  return key === "" ? text : `${base.slice(0, slash + 1)}${MASK}`
}

/**
 * Replaces every occurrence of `secret` in `text` by `****`, and when the secret has a `?query`, also every
 * occurrence of the part before the `?` (when it is at least 4 characters long, so that short keys do not
 * garble the text). Use it on any text that may contain a stream key: server messages, error descriptions,
 * logs. An empty secret leaves the text unchanged.
 *
 * @since 0.1.0
 */
export const maskText = (text: string, secret: string): string => {
  if (secret === "") return text
  let out = text.split(secret).join(MASK)
  const q = secret.indexOf("?")
  if (q >= 4) out = out.split(secret.slice(0, q)).join(MASK)
  const encoded = encodeURIComponent(secret)
  if (encoded !== secret) out = out.split(encoded).join(MASK)
  return out
}

/**
 * The URL of a parsed {@link RtmpUrl} for display: `tcUrl` followed by `/****` in place of the stream key.
 * Use it to name the destination in logs and progress output.
 *
 * @since 0.1.0
 */
export const toMaskedString = (url: RtmpUrl): string => `${url.tcUrl}/${MASK}`
