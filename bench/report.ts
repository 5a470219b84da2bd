// Shared by the benchmarks: replace one section's measured part in docs/BENCHMARKS.md (between its
// `<!-- bench:NAME results begin/end -->` markers), leaving the prose around it alone.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export async function writeResults(name: string, section: string, lines: string[]): Promise<void> {
  const file = join(import.meta.dirname, '..', 'docs', 'BENCHMARKS.md');
  const doc = readFileSync(file, 'utf8');
  const begin = `<!-- bench:${name} results begin -->`;
  const end = `<!-- bench:${name} results end -->`;
  const at = doc.indexOf(begin);
  const stop = doc.indexOf(end);
  if (!doc.includes(section) || at < 0 || stop < at) {
    throw new Error(`${file} has no "${section}" section with ${begin} … ${end} markers; add them, then rerun`);
  }
  const text = `${doc.slice(0, at + begin.length)}\n\n${lines.join('\n')}\n\n${doc.slice(stop)}`;
  // Formatted as `npm run lint` expects, so a rerun leaves nothing to fix by hand.
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(file, await prettier.format(text, { ...options, filepath: file }));
  process.stderr.write(`bench:${name}: results written to ${file}\n`);
}
