// Why a build failed, in terms the activity can act on: the non-retryable kinds become non-retryable Temporal
// failures, so a missing tool or a script that never writes an image is not retried for hours.

export type ImageBuildErrorKind =
  /** disk-image-create (or sudo, which it needs) is not installed, or not where configuration says. */
  | 'tool-missing'
  /** The diskimage's configuration cannot work: no script, a script that is not executable. */
  | 'bad-config'
  /** The builder ran past the diskimage's build-timeout and was killed. */
  | 'timeout'
  /** The builder exited non-zero (a mirror down, a package that failed to install): worth another attempt. */
  | 'failed'
  /** The builder succeeded but left no image, or an empty one, where it was told to. */
  | 'no-image'
  /** The builder left something that is not a raw disk image. */
  | 'bad-image'
  /** The images directory's file system is full. */
  | 'no-space'
  /** Something the build mounted could not be unmounted, so its directory cannot be removed safely. */
  | 'cleanup-failed';

const RETRYABLE: Record<ImageBuildErrorKind, boolean> = {
  'tool-missing': false,
  'bad-config': false,
  timeout: false,
  failed: true,
  'no-image': false,
  'bad-image': false,
  'no-space': true,
  'cleanup-failed': false,
};

export class ImageBuildError extends Error {
  readonly kind: ImageBuildErrorKind;
  readonly retryable: boolean;

  constructor(kind: ImageBuildErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageBuildError';
    this.kind = kind;
    this.retryable = RETRYABLE[kind];
  }
}
