// Test-only workflow: runs the conversion activity once, so tests exercise it through a real Temporal
// server (heartbeats, cancellation, failure conversion) without depending on the build workflow.
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type * as convertActivities from '../../activities/convert.ts';
import type { ConvertImageInput, ConvertImageResult } from '../../activities/convert.ts';

const { convertImage } = proxyActivities<typeof convertActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '5 seconds',
  // Retries are allowed, so a test can tell that non-retryable failures really stop at the first attempt.
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
  // The workflow ends only after the activity has cleaned up, so a test can then look for leftovers.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

export async function convertImageTest(input: ConvertImageInput): Promise<ConvertImageResult> {
  return await convertImage(input);
}
