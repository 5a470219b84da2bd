// Why a conversion failed, in terms a caller can act on: the activity turns non-retryable kinds into
// non-retryable Temporal failures, so a bad input or a missing tool is not retried for hours.

export type ImageConvertErrorKind =
  /** The input is missing, not a regular file, unreadable, empty or truncated. */
  | 'bad-input'
  /** The output cannot be written where it was asked for. */
  | 'bad-output'
  /** A required external program is not installed or not where configuration says. */
  | 'tool-missing'
  /** An external program ran and failed. */
  | 'tool-failed'
  /** The output's file system is full (ENOSPC) or the quota is used up (EDQUOT). */
  | 'no-space';

const RETRYABLE: Record<ImageConvertErrorKind, boolean> = {
  'bad-input': false,
  'bad-output': false,
  'tool-missing': false,
  // A converter can fail on a full disk or an I/O error that a later attempt does not meet.
  'tool-failed': true,
  // Retention may free the space before the next attempt; the message tells an operator what to free.
  'no-space': true,
};

export class ImageConvertError extends Error {
  readonly kind: ImageConvertErrorKind;
  readonly retryable: boolean;

  constructor(kind: ImageConvertErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageConvertError';
    this.kind = kind;
    this.retryable = RETRYABLE[kind];
  }
}
