// The workflow bundle's entry point: every workflow type the worker runs.
export { convertBuild } from './convert-build.ts';
export { imageBuild } from './image-build.ts';
export { imageCatalog } from './image-catalog.ts';
export { providerInfo } from './provider-info.ts';
export { providerPool } from './provider-pool.ts';
export { workerHealth } from './worker-health.ts';
export { buildLog, dibImageList } from './image-records.ts';
export { nodepoolConfigRegistry } from './config-registry.ts';
