/**
 * Value conversions for the probe report: AMF0 values as JSON, and the server certificate read
 * defensively from the transport's TLS details.
 */
import * as Amf0 from "../Amf0.ts"

/**
 * The server certificate of an `rtmps` connection, as the probe reports it.
 *
 * @since 0.3.0
 */
export interface CertificateInfo {
  /** The subject, as `CN=localhost` (`key=value` pairs joined by `, `). */
  readonly subject: string
  readonly issuer: string
  /** `DNS:localhost, IP Address:127.0.0.1` as Node formats it; null when absent. */
  readonly subjectAltName: string | null
  /** ISO 8601. */
  readonly validFrom: string | null
  /** ISO 8601: when the certificate expires. */
  readonly validTo: string | null
  readonly fingerprint256: string | null
}

/** An AMF0 value as JSON: dates as ISO strings, ECMA arrays as objects, undefined as null. */
export const toJson = (value: Amf0.Amf0Value): unknown => {
  if (value === undefined || value === null) return null
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (value instanceof Amf0.Amf0EcmaArray) return toJson(value.entries as Amf0.Amf0Object)
  if (Array.isArray(value)) return value.map(toJson)
  if (typeof value === "object") {
    const out: Record<string, unknown> = {}
    for (const [key, entry] of Object.entries(value as Amf0.Amf0Object)) out[key] = toJson(entry)
    return out
  }
  return value
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** `CN=localhost, O=...` from Node's `{ CN: "localhost", O: "..." }` (values may be arrays), or a string as is. */
const distinguishedName = (value: unknown): string | null => {
  if (typeof value === "string") return value
  if (!isRecord(value)) return null
  return Object.entries(value)
    .flatMap(([key, entry]) => (Array.isArray(entry) ? entry : [entry]).map((v) => `${key}=${String(v)}`))
    .join(", ")
}

const isoDate = (value: unknown): string | null => {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (typeof value !== "string" || value === "") return null
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? value : date.toISOString()
}

const stringField = (record: Record<string, unknown>, ...keys: ReadonlyArray<string>): string | null => {
  for (const key of keys) if (typeof record[key] === "string" && record[key] !== "") return record[key] as string
  return null
}

/**
 * The server certificate from the transport's TLS details (`TlsInfo.peerCertificate`), read defensively.
 * Accepts `peerCertificate` (or `certificate`) either as Node's `tls.PeerCertificate`
 * (`subject` / `issuer` objects, `subjectaltname`, `valid_from`, `valid_to`, `fingerprint256`) or already
 * in the shape of {@link CertificateInfo}. Null when absent or empty.
 */
export const certificateOf = (tls: object): CertificateInfo | null => {
  const raw = (tls as Record<string, unknown>)["peerCertificate"] ?? (tls as Record<string, unknown>)["certificate"]
  if (!isRecord(raw)) return null
  const subject = distinguishedName(raw["subject"])
  const issuer = distinguishedName(raw["issuer"])
  if (subject === null && issuer === null) return null
  return {
    subject: subject ?? "",
    issuer: issuer ?? "",
    subjectAltName: stringField(raw, "subjectAltName", "subjectaltname"),
    validFrom: isoDate(raw["validFrom"] ?? raw["valid_from"]),
    validTo: isoDate(raw["validTo"] ?? raw["valid_to"]),
    fingerprint256: stringField(raw, "fingerprint256")
  }
}
