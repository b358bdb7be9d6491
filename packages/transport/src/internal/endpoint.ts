/**
 * What an `Endpoint` means to Node: the host to dial, the SNI name, the TLS verification settings and the
 * time allowed for each phase. Shared by the real transports so they agree on every policy.
 *
 * @internal
 */
import { Duration } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import type { Endpoint } from "../Transport.ts"

/** Default limit for the TCP connect and for the TLS handshake, each. */
export const defaultTimeoutMillis = 10_000

/** The limit for one connection phase, in milliseconds. */
export const timeoutMillis = (endpoint: Endpoint): number =>
  endpoint.timeout === undefined ? defaultTimeoutMillis : Duration.toMillis(endpoint.timeout)

/** The host as Node's `net.connect` wants it: an IPv6 literal without its URL brackets. */
export const connectHost = (endpoint: Endpoint): string => {
  const host = endpoint.host
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host
}

/** Whether a host is an IPv4 or IPv6 literal (with or without URL brackets). */
export const isIpLiteral = (host: string): boolean =>
  net.isIP(host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host) !== 0

/**
 * The SNI name to send: the explicit `servername`, else the host; never an IP literal (RFC 6066 forbids it),
 * and nothing for plain TCP.
 */
export const serverName = (endpoint: Endpoint): string | undefined => {
  if (endpoint.tls === undefined) return undefined
  const name = endpoint.tls.servername ?? connectHost(endpoint)
  return name === "" || isIpLiteral(name) ? undefined : name
}

/**
 * A secure context that trusts Node's default store (bundled roots, NODE_EXTRA_CA_CERTS) and the extra
 * CAs. The default store stays in its native form and the extra CAs are added to a copy of it: passing
 * every root as `ca` instead would parse about 150 PEM certificates for each connection (~20 ms of CPU).
 */
const withExtraCas = (extra: ReadonlyArray<string>): tls.SecureContext => {
  const secureContext = tls.createSecureContext()
  const native = secureContext.context as { addCACert(pem: string): void }
  for (const pem of extra) native.addCACert(pem)
  return secureContext
}

/**
 * Options for `tls.connect` over an already connected TCP socket. Certificates are verified unless
 * `insecure` is set; extra CAs are added to (not substituted for) the default roots; the certificate is
 * checked against the SNI name, or against the host when it is an IP literal.
 */
export const tlsConnectOptions = (endpoint: Endpoint, socket: net.Socket): tls.ConnectionOptions => {
  const options = endpoint.tls ?? {}
  const servername = serverName(endpoint)
  const extra = options.ca ?? []
  return {
    socket,
    host: servername ?? connectHost(endpoint),
    ...(servername === undefined ? {} : { servername }),
    rejectUnauthorized: options.insecure !== true,
    ...(extra.length === 0 ? {} : { secureContext: withExtraCas(extra) })
  }
}
