#!/usr/bin/env node
// The nodepool command: a tiny entry that turns on Node's on-disk compile cache before anything else loads, so
// every later run skips compiling the CLI, yargs, zod and the Temporal client again (a command's start-up is most
// of an image-list). The cache lives in the OS temp dir and is keyed by file contents.
import { enableCompileCache } from 'node:module';

enableCompileCache?.();
const { main, hideBin } = await import('./program.ts');

export { main };

if (import.meta.main) {
  process.exitCode = await main(hideBin(process.argv));
}
