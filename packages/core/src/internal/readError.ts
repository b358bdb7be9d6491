/**
 * A failed read of a media input as `InvalidMedia`, with a readable reason for the common causes.
 *
 * @internal
 */
import { InvalidMedia } from "../RtmpError.ts"

/**
 * Maps an error of `node:fs` (or of a stream) to `InvalidMedia` naming `source`.
 *
 * @internal
 */
export const readError = (source: string) => (error: unknown): InvalidMedia => {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined
  const reason = code === "ENOENT"
    ? "no such file"
    : code === "EISDIR"
    ? "is a directory, not a file"
    : code === "EACCES" || code === "EPERM"
    ? "permission denied"
    : `read failed: ${error instanceof Error ? error.message : String(error)}`
  return new InvalidMedia({ source, reason })
}
