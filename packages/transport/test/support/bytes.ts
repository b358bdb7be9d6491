/**
 * Byte helpers for the transport tests.
 */

/** `n` deterministic bytes that differ with `seed`, so a misplaced or repeated slice shows up. */
export const pattern = (n: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(n)
  let x = seed * 2654435761 >>> 0
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x & 0xff
  }
  return out
}

/** The pieces one after another. */
export const concat = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0))
  let at = 0
  for (const piece of pieces) {
    out.set(piece, at)
    at += piece.length
  }
  return out
}

/** Whether two byte arrays hold the same bytes (fast for large arrays). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
