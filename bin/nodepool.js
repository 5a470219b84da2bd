#!/usr/bin/env node
// The installed `nodepool` command (npm link, or a checkout's bin/ on PATH). With a current prebuilt bundle it runs
// plain JavaScript from start to end; otherwise cli/main.ts builds one or runs the TypeScript sources (Node >= 22.18
// strips types natively, but not under node_modules: run nodepool from a checkout).
import { enableCompileCache } from 'node:module';
import { pathToFileURL } from 'node:url';
import { cacheDir, freshBundle } from '../cli/fresh-bundle.js';

enableCompileCache?.();
const bundle = freshBundle(cacheDir('cli'));
const { main, hideBin } = bundle ? await import(pathToFileURL(bundle).href) : await import('../cli/main.ts');
process.exitCode = await main(hideBin(process.argv));
