/**
 * Where a live publish resumes after a failure or a reconnect request: at a keyframe, and close to live.
 *
 * A file resumes losslessly from the replay buffer (the GOP of the first frame the server had not
 * acknowledged). A live source cannot wait for that: what the old connection wrote but the server did
 * not acknowledge is stale by the time a new connection is up, and the send queue has gone on filling.
 * So, on the new connection:
 *
 * - when the send queue holds a keyframe of the default video track: nothing of the replay buffer's
 *   frames is sent again, and the queue starts at its newest keyframe (`SendQueue.skipStale`);
 * - otherwise, the replay buffer's frames never written (the batch a reconnect request cut at a keyframe,
 *   or the one whose write failed) are sent from their first keyframe; without one, video waits for the
 *   source's next keyframe (`SendQueue.dropUntilKeyframe`). Queued audio older than the queue's duration
 *   bound is dropped (`SendQueue.skipStale`);
 * - audio only: the replay buffer's frames never written are sent, and queued audio older than the bound
 *   is dropped.
 *
 * Codec configurations, metadata and data frames are always kept.
 *
 * @internal
 */
import type { MediaFrame } from "../MediaFrame.ts"
import type { Entry } from "../ReplayBuffer.ts"
import type { SendQueue } from "../SendQueue.ts"

/** A frame that carries media (as opposed to configuration, metadata and data). */
const isCoded = (frame: MediaFrame): boolean =>
  frame.kind !== "data" && !frame.config && frame.metadata !== true && frame.multichannelConfig !== true &&
  frame.endOfSequence !== true

const isKeyframe = (frame: MediaFrame): boolean =>
  frame.kind === "video" && frame.keyframe && isCoded(frame) && (frame.track ?? 0) === 0

/**
 * The replay buffer's entries to send on the new connection (`entries`), and how many of its coded frames
 * will not be sent (`skipped`); adjusts the send queue as described above.
 *
 * @internal
 */
export const plan = (
  entries: ReadonlyArray<Entry>,
  queue: SendQueue,
  hasVideo: boolean
): { readonly entries: ReadonlyArray<Entry>; readonly skipped: number } => {
  const keep = (kept: (entry: Entry, index: number) => boolean) => {
    const chosen = entries.filter((entry, i) => !isCoded(entry.frame) || kept(entry, i))
    return { entries: chosen, skipped: entries.length - chosen.length }
  }
  if (hasVideo && queue.hasKeyframe()) {
    queue.skipStale()
    return keep(() => false)
  }
  queue.skipStale()
  if (!hasVideo) return keep((entry) => !entry.written)
  const first = entries.findIndex((entry) => !entry.written && isKeyframe(entry.frame))
  if (first >= 0) return keep((entry, i) => !entry.written && i >= first)
  queue.dropUntilKeyframe()
  return keep((entry) => !entry.written && entry.frame.kind !== "video")
}
