/**
 * Publisher authentication in the `connect` command, as Adobe Media Server / Wowza (`authmod=adobe`) and
 * Limelight (`authmod=llnw`) ingests do it, the way FFmpeg's RTMP client does.
 *
 * The credentials travel as a query appended to the `app` and the `tcUrl` of `connect`. Each round is
 * a new connection: the server rejects `connect` (`_error` `NetConnection.Connect.Rejected`) with a
 * description that says what it wants, and closes the connection.
 *
 * 1. `connect` without credentials: the server answers `... code=403 need auth; authmod=adobe ...`
 *    (skipped when the authmod is known beforehand);
 * 2. `connect` with `?authmod=adobe&user=U`: the server answers
 *    `... authmod=adobe ... ?reason=needauth&user=U&salt=S&challenge=C&opaque=O` (llnw: `&nonce=N`);
 * 3. `connect` with the response ({@link adobeQuery} / {@link llnwQuery}): accepted, or rejected for good
 *    (`?reason=authfailed`, `?reason=nosuchuser`).
 *
 * The password never goes over the wire, only digests of it.
 *
 * @since 0.3.0
 */
import { nodeCrypto } from "./internal/nodeCrypto.ts"

/**
 * A user name and password for an ingest that authenticates publishers.
 *
 * @since 0.3.0
 */
export interface Credentials {
  readonly username: string
  readonly password: string
  /**
   * The scheme, when known beforehand: the first `connect` then carries `?authmod=...&user=...`.
   * Default: learnt from the server's first rejection (one round trip more).
   */
  readonly authmod?: AuthMod | undefined
}

/**
 * The authentication schemes supported: Adobe (AMS, Wowza, many CDNs) and Limelight.
 *
 * @since 0.3.0
 */
export type AuthMod = "adobe" | "llnw"

const md5 = (text: string): Buffer => nodeCrypto().createHash("md5").update(text, "utf8").digest()

/**
 * The Adobe response: `base64(md5(base64(md5(user + salt + password)) + (opaque ?? challenge) +
 * clientChallenge))`. The opaque value is used when the server sent one, else its challenge (FFmpeg's
 * choice).
 *
 * @since 0.3.0
 */
export const adobeResponse = (input: {
  readonly username: string
  readonly password: string
  readonly salt: string
  readonly challenge?: string | undefined
  readonly opaque?: string | undefined
  readonly clientChallenge: string
}): string => {
  const first = md5(input.username + input.salt + input.password).toString("base64")
  return md5(first + (input.opaque ?? input.challenge ?? "") + input.clientChallenge).toString("base64")
}

/**
 * The query of the Adobe response round: `?authmod=adobe&user=U&challenge=CC&response=R[&opaque=O]`.
 *
 * @since 0.3.0
 */
export const adobeQuery = (input: Parameters<typeof adobeResponse>[0]): string =>
  `?authmod=adobe&user=${input.username}&challenge=${input.clientChallenge}&response=${adobeResponse(input)}` +
  (input.opaque !== undefined ? `&opaque=${input.opaque}` : "")

/**
 * The Limelight response, an HTTP-digest-like MD5 in lowercase hex: HA1 = md5(`user:live:password`),
 * HA2 = md5(`publish:/app`, with `/_definst_` appended when the app has no `/`), response =
 * md5(`HA1:nonce:nc:cnonce:auth:HA2`).
 *
 * @since 0.3.0
 */
export const llnwResponse = (input: {
  readonly username: string
  readonly password: string
  readonly app: string
  readonly nonce: string
  readonly cnonce: string
  readonly nc?: string | undefined
}): string => {
  const ha1 = md5(`${input.username}:live:${input.password}`).toString("hex")
  const ha2 = md5(`publish:/${input.app}${input.app.includes("/") ? "" : "/_definst_"}`).toString("hex")
  return md5(`${ha1}:${input.nonce}:${input.nc ?? "00000001"}:${input.cnonce}:auth:${ha2}`).toString("hex")
}

/**
 * The query of the Limelight response round:
 * `?authmod=llnw&user=U&nonce=N&cnonce=CN&nc=00000001&response=R`.
 *
 * @since 0.3.0
 */
export const llnwQuery = (input: Parameters<typeof llnwResponse>[0]): string =>
  `?authmod=llnw&user=${input.username}&nonce=${input.nonce}&cnonce=${input.cnonce}&nc=${input.nc ?? "00000001"}` +
  `&response=${llnwResponse(input)}`

/**
 * The query of the first authenticated round: `?authmod=X&user=U`.
 *
 * @since 0.3.0
 */
export const userQuery = (authmod: AuthMod, username: string): string => `?authmod=${authmod}&user=${username}`

/**
 * Where an authentication stands on a target: the query the next `connect` carries (`""`: none), and
 * whether the response round was sent already (a rejection after it is final).
 *
 * @since 0.3.0
 */
export interface State {
  readonly query: string
  readonly responded: boolean
}

/**
 * The state of the first round of a logical attempt: `?authmod=X&user=U` when the scheme is known, else
 * no query.
 *
 * @since 0.3.0
 */
export const initial = (credentials: Credentials | undefined): State => ({
  query: credentials?.authmod === undefined ? "" : userQuery(credentials.authmod, credentials.username),
  responded: false
})

/** A random 8-digit lowercase hex value, FFmpeg's client challenge and cnonce. */
const randomHex = (): string => nodeCrypto().randomBytes(4).toString("hex")

/**
 * The next round after the server rejected `connect` with `description`, or `undefined` when there is
 * none (no credentials, no supported authmod in the description, wrong credentials, or the response
 * round was already sent): the rejection is then final. `app` is the application name without query.
 *
 * @since 0.3.0
 */
export const next = (
  state: State,
  description: string,
  credentials: Credentials | undefined,
  app: string,
  random: () => string = randomHex
): State | undefined => {
  if (credentials === undefined || state.responded) return undefined
  const authmod = /authmod=(adobe|llnw)\b/.exec(description)?.[1] as AuthMod | undefined
  if (authmod === undefined) return undefined
  if (description.includes("?reason=authfailed") || description.includes("?reason=nosuchuser")) return undefined
  if (description.includes("code=403 need auth")) {
    // Asked for credentials again after sending the user: nothing new to try.
    return state.query === "" ? { query: userQuery(authmod, credentials.username), responded: false } : undefined
  }
  const at = description.indexOf("?reason=needauth")
  if (at < 0) return undefined
  const params = new Map<string, string>()
  for (const pair of description.slice(at + 1).split(/[&\s]/)) {
    const eq = pair.indexOf("=")
    if (eq > 0) params.set(pair.slice(0, eq), pair.slice(eq + 1))
  }
  const username = params.get("user") ?? credentials.username
  if (authmod === "adobe") {
    const salt = params.get("salt")
    if (salt === undefined) return undefined
    return {
      query: adobeQuery({
        username,
        password: credentials.password,
        salt,
        challenge: params.get("challenge"),
        opaque: params.get("opaque"),
        clientChallenge: random()
      }),
      responded: true
    }
  }
  const nonce = params.get("nonce")
  if (nonce === undefined) return undefined
  return {
    query: llnwQuery({ username, password: credentials.password, app, nonce, cnonce: random() }),
    responded: true
  }
}
