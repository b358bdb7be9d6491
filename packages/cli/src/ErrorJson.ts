/**
 * Typed errors as plain JSON objects: `_tag`, every field, and the readable message.
 *
 * @since 0.1.0
 */

/**
 * A JSON view of a tagged error, for `--json` output. Non-tagged values become `{ _tag: "Unknown" }`.
 *
 * @since 0.1.0
 */
export const errorJson = (error: unknown): Record<string, unknown> => {
  if (typeof error !== "object" || error === null || !("_tag" in error)) {
    return { _tag: "Unknown", message: String(error) }
  }
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(error)) {
    if (key === "stack" || key === "cause") continue
    if (value === undefined || typeof value === "function") continue
    fields[key] = value
  }
  return { ...fields, _tag: (error as { _tag: string })._tag, message: String((error as { message?: unknown }).message ?? "") }
}
