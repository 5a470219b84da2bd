#!/usr/bin/env node
// The worker as shipped (Dockerfile, docker-compose.yml, `npm run worker`, `nodepool up`): worker/main.ts run from
// its prebuilt bundle (cli/bundle.ts), made first if it is stale, so the process never loads Node's TypeScript
// support; the sources if no bundle can be had.
import { enableCompileCache } from 'node:module';
import { pathToFileURL } from 'node:url';
import { currentBundle } from '../cli/fresh-bundle.js';

enableCompileCache?.();
const bundle = currentBundle('worker');
await import(bundle ? pathToFileURL(bundle).href : '../worker/main.ts');
