#!/usr/bin/env node
// Installed entry point: runs the TypeScript CLI on Node >= 22.17 (type stripping).
import '../cli/main.ts';
