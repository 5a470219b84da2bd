// The Node flags every shipped way of starting the worker passes (Dockerfile, docker-compose.yml, `nodepool up`,
// `npm run worker`, the benchmarks). V8 sizes its heap from the host's memory and lets garbage pile up towards
// that size before collecting it: on a 24 GiB host a worker holding 2,000 nodes reached 800 MB of RSS, most of
// it garbage. These bound the main thread's heap; worker/main.ts bounds the workflow thread's in-process.
// Raise them (and NODEPOOL_WORKFLOW_HEAP_MB) if a worker ever dies with "JavaScript heap out of memory".
export const WORKER_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=4'] as const;
