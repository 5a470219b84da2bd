// Workflow and schedule IDs: one convention, shared by the worker, the workflows and the CLI, so an operator
// can type them into the Web UI or `temporal workflow describe`.

/** The perpetual catalog of one provider's images. */
export const catalogWorkflowId = (provider: string): string => `image-catalog/${provider}`;

/** The perpetual pool of one provider's nodes. */
export const poolWorkflowId = (provider: string): string => `pool/${provider}`;

/** The daily build schedule of one diskimage. */
export const buildScheduleId = (image: string): string => `image-build/${image}`;

/** Prefix of every build workflow of one diskimage (scheduled, manual or retried). */
export const buildWorkflowPrefix = (image: string): string => `image-build/${image}/`;

/** A build started by hand (`nodepool image-build`); `at` keeps two manual builds apart. */
export const manualBuildWorkflowId = (image: string, at: number): string => `${buildWorkflowPrefix(image)}manual-${at}`;

/** A failed build continued from its failed step (`nodepool image-build --retry BUILD`). */
export const retryBuildWorkflowId = (image: string, buildId: number, at: number): string =>
  `${buildWorkflowPrefix(image)}retry-${buildId}-${at}`;

/** The schedule's action ID; Temporal appends the scheduled time to it. */
export const scheduledBuildWorkflowId = (image: string): string => `${buildWorkflowPrefix(image)}scheduled`;
