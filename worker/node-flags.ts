// How every shipped way of starting the worker runs Node (Dockerfile, docker-compose.yml, `nodepool up`,
// `npm run worker`, the benchmarks); test/docker-compose.test.ts holds them to these values.
//
// V8 sizes its heap from the host's memory and lets garbage pile up towards that size before collecting it: on a
// 24 GiB host a worker holding 2,000 nodes reached 800 MB of RSS, most of it garbage. The flags bound the heaps
// (worker/main.ts bounds the workflow thread's old space in-process) and make V8 grow a heap by 30 % of what
// survived a collection instead of up to 4x (the same worker: 367 → 344 MiB, churn and latency unchanged).
// Raise them (and NODEPOOL_WORKFLOW_HEAP_MB) if a worker ever dies with "JavaScript heap out of memory".
export const WORKER_NODE_FLAGS = [
  '--max-old-space-size=256',
  '--max-semi-space-size=4',
  '--heap-growing-percent=30',
] as const;

// glibc gives each thread that allocates (the Temporal core's Rust threads, libuv's pool, V8's helpers) its own
// malloc arena, keeps what is freed in them, and serves large blocks from them once a large block was freed. Two
// arenas and a fixed 128 KiB mmap/trim threshold gave back 75 MiB at 2,000 nodes (442 → 367 MiB). glibc reads
// this only when a process starts, hence an environment variable for every way of starting the worker.
export const WORKER_GLIBC_TUNABLES =
  'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';

/** The worker's environment on top of the caller's: an operator's own GLIBC_TUNABLES wins. */
export function workerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, GLIBC_TUNABLES: env.GLIBC_TUNABLES ?? WORKER_GLIBC_TUNABLES };
}
