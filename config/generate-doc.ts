// Rewrites the key table in docs/configuration.md from config/keys.ts: `npm run docs:config`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withKeyTable } from './doc.ts';

const page = join(import.meta.dirname, '..', 'docs', 'configuration.md');
const before = readFileSync(page, 'utf8');
const after = await withKeyTable(before);
if (after === before) process.stdout.write('docs/configuration.md: key table up to date\n');
else {
  writeFileSync(page, after);
  process.stdout.write('docs/configuration.md: key table rewritten\n');
}
