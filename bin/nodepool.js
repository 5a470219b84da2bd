#!/usr/bin/env node
// The installed `nodepool` command (npm link, or a checkout's bin/ on PATH): the CLI's prebuilt bundle
// (cli/bundle.ts), made first if it is stale, so the command runs plain JavaScript from start to end; the
// TypeScript sources if no bundle can be had (Node >= 22.18 strips types natively, but not under node_modules:
// run nodepool from a checkout).
import { enableCompileCache } from 'node:module';
import { pathToFileURL } from 'node:url';
import { currentBundle } from '../cli/fresh-bundle.js';

enableCompileCache?.();
const bundle = currentBundle('cli');
const { main, hideBin } = await import(bundle ? pathToFileURL(bundle).href : '../cli/program.ts');
process.exitCode = await main(hideBin(process.argv));
