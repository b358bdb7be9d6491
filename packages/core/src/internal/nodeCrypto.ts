/**
 * `node:crypto`, loaded on first use: only the digest handshake and authentication need it, and loading
 * it costs every other run about 10 ms of start-up.
 *
 * @internal
 */
import type * as Crypto from "node:crypto"

/** @internal */
export const nodeCrypto = (): typeof Crypto => process.getBuiltinModule("node:crypto")

/**
 * Fills `bytes` with arbitrary bytes (the handshake's random fields, which need no secrecy: servers only
 * echo them), without loading a cryptographic generator.
 *
 * @internal
 */
export const fillArbitrary = (bytes: Uint8Array): void => {
  for (let i = 0; i < bytes.length; i += 4) {
    const word = (Math.random() * 0x1_0000_0000) >>> 0
    for (let k = 0; k < 4 && i + k < bytes.length; k++) bytes[i + k] = (word >>> (8 * k)) & 0xff
  }
}
