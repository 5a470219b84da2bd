// Shared by the benchmarks: timing, percentiles, formatting, machine facts, and replacing one section's measured part in docs/BENCHMARKS.md (between its
// `<!-- bench:NAME results begin/end -->` markers), leaving the prose around it alone.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
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

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

/** Milliseconds with two, one or no decimals as they grow. */
export function fmt(ms: number): string {
  if (Number.isNaN(ms)) return '–';
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/** A command's trimmed output for the machine line, or a note that it failed. */
export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `(${cmd} failed)`;
}

/** The line every result starts with: when, on what machine, under what load, how long. */
export function machineLine(date: string, loadBefore: string, runSeconds: number, extra = ''): string {
  const free = sh('free', ['-g']).split('\n')[1]?.replace(/\s+/g, ' ') ?? '';
  return (
    `One run, ${date}, on ${sh('nproc', [])} cores (\`nproc\`; ${cpus()[0]?.model ?? 'unknown CPU'}), ` +
    `${Math.round(totalmem() / 1024 ** 3)} GiB memory (\`free -g\`: ${free}); Node ${process.version}` +
    `${extra ? `; ${extra}` : ''}. Load average before the run: ${loadBefore}. Whole run: ${runSeconds.toFixed(0)} s.`
  );
}
