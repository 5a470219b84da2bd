#!/usr/bin/env node
// Installed entry point (npm link / a checkout on PATH): runs the TypeScript CLI on Node >= 22.18, which
// strips types natively. Node does not strip types under node_modules, so run nodepool from a checkout.
import { main } from '../cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
