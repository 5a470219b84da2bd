// Test-only workflow: runs the build activity once, so tests exercise it through a real Temporal server
// (heartbeats, cancellation, failure conversion) without the build workflow.
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { buildImageActivities, BuildDiskImageInput, BuildDiskImageResult } from '../../activities/build-image.ts';

const { buildDiskImage } = proxyActivities<ReturnType<typeof buildImageActivities>>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '3 seconds',
  // Retries are allowed, so a test can tell that non-retryable failures really stop at the first attempt.
  retry: { maximumAttempts: 2, initialInterval: '1 second' },
  // The workflow ends only after the activity has cleaned up, so a test can then look for leftovers.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

export async function buildImageTest(input: BuildDiskImageInput): Promise<BuildDiskImageResult> {
  return await buildDiskImage(input);
}
