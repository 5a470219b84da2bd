// The workflow bundle's entry point: every workflow type the worker runs.
export { convertBuild } from './convert-build.ts';
export { providerInfo } from './provider-info.ts';
export { workerHealth } from './worker-health.ts';
