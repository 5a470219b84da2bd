#!/usr/bin/env node
// The worker as shipped (Dockerfile, docker-compose.yml, `npm run worker`, `nodepool up`): worker/main.ts run from
// its prebuilt bundle (cli/bundle.ts), so the process never loads Node's TypeScript support. A stale or missing
// bundle is rebuilt first in a short-lived child process; if that fails the worker runs from the sources.
import { spawnSync } from 'node:child_process';
import { enableCompileCache } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, cacheDir, freshBundle } from '../cli/fresh-bundle.js';

enableCompileCache?.();
const dir = cacheDir('worker');
let bundle = freshBundle(dir);
if (dir && !bundle) {
  spawnSync(process.execPath, [join(ROOT, 'cli', 'bundle.ts'), '--warm', 'worker'], { stdio: 'ignore' });
  bundle = freshBundle(dir);
}
await import(bundle ? pathToFileURL(bundle).href : '../worker/main.ts');
