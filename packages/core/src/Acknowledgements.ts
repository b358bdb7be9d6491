/**
 * Acknowledgements (RTMP spec 5.4.3) from the server's side: its sequence numbers turned into a count of
 * our bytes it has received, for the replay buffer.
 *
 * A sequence number is the number of bytes the server received so far, modulo 2^32. This counter keeps a
 * lower bound of the real count, never more:
 *
 * - it grows by the difference between consecutive sequence numbers;
 * - a sequence number smaller than the previous one is a wrap at 2^32, or a server resetting its counter
 *   (nginx-rtmp restarts from 0 past 0xF0000000): the count grows by the new value only, as if the
 *   counter had restarted right at the previous one;
 * - the handshake (C0 + C1 + C2, 3073 bytes) is taken off: nginx-rtmp counts only what follows the
 *   handshake, as this client does, but servers built on librtmp count the handshake too.
 *
 * @since 0.2.0
 */

/**
 * Bytes a server may count beyond ours: the handshake, C0 + C1 + C2.
 *
 * @since 0.2.0
 */
export const handshakeAllowance = 1 + 1536 + 1536

/**
 * A running count of acknowledged bytes.
 *
 * @since 0.2.0
 */
export interface Acknowledgements {
  /** Takes the sequence number of an Acknowledgement message. */
  readonly receive: (sequenceNumber: number) => void
  /** Bytes sent after the handshake that the server has received, a lower bound (0 before any ack). */
  readonly bytes: () => number
}

/**
 * A counter for one connection. `sent` bounds the count by what was actually sent (a server cannot have
 * received more).
 *
 * @since 0.2.0
 */
export const make = (sent: () => number = () => Infinity): Acknowledgements => {
  let total = 0
  let last: number | undefined
  return {
    receive: (sequenceNumber) => {
      const value = sequenceNumber >>> 0
      total += last === undefined ? value : value >= last ? value - last : value
      last = value
    },
    bytes: () => Math.max(0, Math.min(total - handshakeAllowance, sent()))
  }
}
