/**
 * A throw-away certificate authority and server certificate for RTMPS tests, made with `openssl`.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { runChecked } from "./process.ts"

/** Files (and the CA in memory) made by {@link makeCertificates}. */
export interface TestCertificates {
  /** The CA certificate (PEM text): what a client must trust, e.g. `tls.connect({ ca: caPem })`. */
  readonly caPem: string
  /** Path of the CA certificate (PEM): for `--ca FILE`. */
  readonly caFile: string
  /** Path of the server certificate (PEM), signed by the CA. */
  readonly certFile: string
  /** Path of the server's private key (PEM, unencrypted). */
  readonly keyFile: string
}

/** Options of {@link makeCertificates}. */
export interface CertificateOptions {
  /**
   * subjectAltName entries of the server certificate. Default `["DNS:localhost", "IP:127.0.0.1"]`. Give
   * e.g. `["DNS:other.invalid"]` to make a certificate a verifying client must reject.
   */
  readonly subjectAltNames?: ReadonlyArray<string> | undefined
  /** File name prefix inside `dir`. Default `"tls"`. */
  readonly prefix?: string | undefined
}

/**
 * Make a CA and a server certificate it signs (P-256 keys, valid 2 days) in `dir`.
 * A client that trusts `caFile` accepts the server as `localhost` and as `127.0.0.1`.
 */
export const makeCertificates = async (dir: string, options: CertificateOptions = {}): Promise<TestCertificates> => {
  const prefix = options.prefix ?? "tls"
  const file = (name: string) => path.join(dir, `${prefix}-${name}`)
  const sans = options.subjectAltNames ?? ["DNS:localhost", "IP:127.0.0.1"]
  const caKey = file("ca.key")
  const caFile = file("ca.pem")
  const keyFile = file("server.key")
  const csrFile = file("server.csr")
  const certFile = file("server.pem")
  const extFile = file("server.ext")
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  await runChecked("openssl", [
    "req", "-x509", ...ecKey, "-keyout", caKey, "-out", caFile, "-days", "2",
    "-subj", "/CN=effect-rtmp test CA",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  ])
  await runChecked("openssl", ["req", "-new", ...ecKey, "-keyout", keyFile, "-out", csrFile, "-subj", "/CN=localhost"])
  await fs.writeFile(
    extFile,
    [
      `subjectAltName=${sans.join(",")}`,
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      ""
    ].join("\n")
  )
  await runChecked("openssl", [
    "x509", "-req", "-in", csrFile, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial",
    "-out", certFile, "-days", "2", "-extfile", extFile
  ])
  return { caPem: await fs.readFile(caFile, "utf8"), caFile, certFile, keyFile }
}
