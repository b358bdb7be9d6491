/**
 * A throw-away CA and a server certificate signed by it, made with the `openssl` CLI at test time.
 * The server certificate is valid for `localhost` and `127.0.0.1`.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** PEM texts of a test CA and of a server certificate and key it signed. */
export interface Certificates {
  readonly ca: string
  readonly cert: string
  readonly key: string
  /** Removes the temporary directory. */
  readonly dispose: () => void
}

/** Makes the certificates synchronously (openssl takes a few tens of milliseconds). */
export const makeCertificates = (): Certificates => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-rtmp-transport-"))
  const file = (name: string) => path.join(dir, name)
  const openssl = (...args: Array<string>) => execFileSync("openssl", args, { stdio: "pipe" })
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  openssl(
    "req", "-x509", ...ecKey, "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "2",
    "-subj", "/CN=effect-rtmp transport test CA",
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign"
  )
  openssl("req", "-new", ...ecKey, "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", "/CN=localhost")
  fs.writeFileSync(
    file("server.ext"),
    [
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth",
      ""
    ].join("\n")
  )
  openssl(
    "x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
    "-CAcreateserial", "-out", file("server.pem"), "-days", "2", "-extfile", file("server.ext")
  )
  return {
    ca: fs.readFileSync(file("ca.pem"), "utf8"),
    cert: fs.readFileSync(file("server.pem"), "utf8"),
    key: fs.readFileSync(file("server.key"), "utf8"),
    dispose: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}
