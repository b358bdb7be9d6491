/**
 * Builders of synthetic media frames for Publisher tests: deterministic payloads and frames with
 * sensible defaults per kind.
 */
import type { MediaFrame } from "../../src/MediaFrame.ts"

/** `n` deterministic bytes, different per `seed`. */
export const bytes = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 17) & 0xff
  return out
}

/** A frame of `kind` (avc video, aac audio, amf0 data) at `dts`, with overrides. */
export const frame = (kind: MediaFrame["kind"], dts: number, payload: Uint8Array, more: Partial<MediaFrame> = {}): MediaFrame => ({
  kind,
  codec: kind === "video" ? "avc" : kind === "audio" ? "aac" : "amf0",
  dts,
  cts: 0,
  keyframe: false,
  config: false,
  payload,
  ...more
})
