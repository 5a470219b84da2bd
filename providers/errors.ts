// Typed provider errors. Activities let these escape through `toApplicationFailure` so Temporal's retry policy
// sees a stable `type` and the right retry decision without any cloud-specific knowledge in workflows.
import { ApplicationFailure } from '@temporalio/common';

/** Stable ApplicationFailure types; workflows and retry policies match on these strings. */
export const PROVIDER_ERROR_TYPES = {
  quotaExceeded: 'ProviderQuotaExceeded',
  rateLimited: 'ProviderRateLimited',
  transient: 'ProviderTransient',
  notFound: 'ProviderNotFound',
  invalid: 'ProviderInvalid',
} as const;

export type ProviderErrorType = (typeof PROVIDER_ERROR_TYPES)[keyof typeof PROVIDER_ERROR_TYPES];

export interface ProviderErrorDetails {
  /** What we were doing, e.g. 'server.create'; never contains request bodies. */
  operation: string;
  /** HTTP status when the cloud answered; absent for network failures and timeouts. */
  status?: number;
  cause?: unknown;
}

export abstract class ProviderError extends Error {
  abstract readonly type: ProviderErrorType;
  readonly operation: string;
  readonly status: number | undefined;

  constructor(message: string, details: ProviderErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.operation = details.operation;
    this.status = details.status;
  }

  /** Keeps logs and ApplicationFailure details free of anything but what we chose to say. */
  toJSON(): Record<string, unknown> {
    return { type: this.type, message: this.message, operation: this.operation, status: this.status };
  }
}

/** The cloud refused for lack of quota. Never a launch failure: the pool waits for capacity instead. */
export class QuotaExceeded extends ProviderError {
  readonly type = PROVIDER_ERROR_TYPES.quotaExceeded;
  override readonly name = 'QuotaExceeded';
}

/** Slow down: retry no sooner than `retryAfterMs`. */
export class RateLimited extends ProviderError {
  readonly type = PROVIDER_ERROR_TYPES.rateLimited;
  override readonly name = 'RateLimited';
  readonly retryAfterMs: number;
  constructor(message: string, details: ProviderErrorDetails & { retryAfterMs: number }) {
    super(message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), retryAfterMs: this.retryAfterMs };
  }
}

/** 5xx, timeouts, connection resets, conflicts that settle by themselves: retry. */
export class Transient extends ProviderError {
  readonly type = PROVIDER_ERROR_TYPES.transient;
  override readonly name = 'Transient';
}

export class NotFound extends ProviderError {
  readonly type = PROVIDER_ERROR_TYPES.notFound;
  override readonly name = 'NotFound';
}

/** The request itself is wrong (bad flavor, bad credentials, schema error): retrying cannot help. */
export class Invalid extends ProviderError {
  readonly type = PROVIDER_ERROR_TYPES.invalid;
  override readonly name = 'Invalid';
}

export function isProviderError(err: unknown): err is ProviderError {
  return err instanceof ProviderError;
}

const NON_RETRYABLE: ReadonlySet<ProviderErrorType> = new Set([
  PROVIDER_ERROR_TYPES.invalid,
  PROVIDER_ERROR_TYPES.quotaExceeded,
]);

/**
 * Converts a provider error into the ApplicationFailure an activity should throw. Anything else is returned
 * unchanged so callers can write `throw toApplicationFailure(err)`.
 * NotFound stays retryable: whether a missing resource is fatal is the caller's decision, and most callers
 * (delete, poll) handle it before it gets here.
 */
export function toApplicationFailure(err: unknown): unknown {
  if (!(err instanceof ProviderError)) return err;
  return ApplicationFailure.create({
    message: err.message,
    type: err.type,
    nonRetryable: NON_RETRYABLE.has(err.type),
    details: [err.toJSON()],
    nextRetryDelay: err instanceof RateLimited ? Math.max(1, err.retryAfterMs) : undefined,
  });
}

/** Replaces every occurrence of each secret with a marker; used on anything that came back from a cloud. */
export function redact(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}
