// The workflow bundle's entry point: every workflow type the worker runs.
export { workerHealth } from './worker-health.ts';
