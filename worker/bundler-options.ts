// How every workflow bundle is made (the worker's, the replayer's, the tests'), so that replaying runs the code the
// worker ran. The SDK compiles workflow TypeScript for ES2017, which turns each object spread into calls of a
// helper that defines the properties one at a time: in the pool workflow, which copies its state with spreads on
// every step, that helper was the largest single cost of a workflow task after the SDK's own (5 % of the workflow
// thread during bench:pool's churn). Workflows run only in this Node version's worker threads, so ES2022 it is.
import type { BundleOptions } from '@temporalio/worker';

export const WORKFLOW_JS_TARGET = 'es2022';

type WebpackConfig = Parameters<NonNullable<BundleOptions['webpackConfigHook']>>[0];

interface SwcRule {
  use?: { loader?: string; options?: { jsc?: { target?: string } } };
}

export function webpackConfigHook(config: WebpackConfig): WebpackConfig {
  const rules = (config.module?.rules ?? []) as SwcRule[];
  const swc = rules.find((r) => typeof r?.use?.loader === 'string' && r.use.loader.includes('swc-loader'));
  const jsc = swc?.use?.options?.jsc;
  // An SDK that bundles another way must be looked at, not silently compiled for the old target.
  if (!jsc) throw new Error('worker/bundler-options.ts: the SDK bundler no longer compiles TypeScript with swc-loader');
  jsc.target = WORKFLOW_JS_TARGET;
  return config;
}

/** For Worker.create({ workflowsPath, bundlerOptions }) and bundleWorkflowCode. */
export const BUNDLER_OPTIONS = { webpackConfigHook } as const;
