#!/usr/bin/env node
// The nodepool command: a tiny entry that turns on Node's on-disk compile cache before anything else loads and
// runs the CLI from its prebuilt bundle (cli/bundle.ts) when that is current, so a command's start-up does not
// strip and resolve a few hundred modules again. The compile cache lives in the OS temp dir, keyed by contents.
import { enableCompileCache } from 'node:module';
import { pathToFileURL } from 'node:url';
import { currentBundle } from './fresh-bundle.js';
import type * as Program from './program.ts';

enableCompileCache?.();
const bundle = currentBundle('cli');
const { main, hideBin } = (await import(bundle ? pathToFileURL(bundle).href : './program.ts')) as typeof Program;

export { main, hideBin };

if (import.meta.main) {
  process.exitCode = await main(hideBin(process.argv));
}
