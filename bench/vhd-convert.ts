// Benchmark: the built-in raw → dynamic VHD converter against `qemu-img convert -O vpc -o subformat=dynamic`
// on the same 4 GiB sparse raw image holding 1 GiB of data. Prints a Markdown table for docs/BENCHMARKS.md.
// Each converter runs as its own process under /usr/bin/time, so wall time and peak RSS are its own.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath } from '../images/tools.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RAW_SIZE = 4 * GiB;
const DATA = 1 * GiB;
const CHUNK = 4 * MiB;

function fail(msg: string): never {
  process.stderr.write(`bench:vhd: ${msg}\n`);
  process.exit(1);
}

/** 1 GiB of random data in 4 MiB runs spread evenly over 4 GiB, the rest holes. */
function makeRaw(path: string): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, RAW_SIZE);
    const runs = DATA / CHUNK;
    const stride = RAW_SIZE / runs;
    for (let i = 0; i < runs; i++) writeSync(fd, randomBytes(CHUNK), 0, CHUNK, i * stride);
  } finally {
    closeSync(fd);
  }
}

interface Measured {
  name: string;
  wallSeconds: number;
  peakRssMiB: number;
  outputBytes: number;
  allocatedBytes: number;
}

function measure(name: string, argv: string[], output: string): Measured {
  const time = findOnPath('time') ?? '/usr/bin/time';
  const r = spawnSync(time, ['-f', 'TIME %e %M', ...argv], { encoding: 'utf8' });
  if (r.status !== 0) fail(`${name} failed:\n${r.stdout}${r.stderr}`);
  const m = /TIME ([\d.]+) (\d+)/.exec(r.stderr);
  if (!m) fail(`no timing from ${time} for ${name}: ${r.stderr}`);
  const st = statSync(output);
  return {
    name,
    wallSeconds: Number(m[1]),
    peakRssMiB: Number(m[2]) / 1024,
    outputBytes: st.size,
    allocatedBytes: st.blocks * 512,
  };
}

function identical(qemuImg: string, raw: string, vhd: string): string {
  const r = spawnSync(qemuImg, ['compare', '-f', 'raw', '-F', 'vpc', raw, vhd], { encoding: 'utf8' });
  return r.status === 0 ? 'identical' : `DIFFERS: ${r.stdout.trim()} ${r.stderr.trim()}`;
}

const qemuImg = findOnPath('qemu-img') ?? fail('qemu-img not found; apt-get install qemu-utils');
const loadBefore = loadavg()
  .map((l) => l.toFixed(2))
  .join(', ');
const dir = mkdtempSync(join(tmpdir(), 'bench-vhd-'));
try {
  const raw = join(dir, 'disk.raw');
  process.stderr.write(`making a ${RAW_SIZE / GiB} GiB sparse raw with ${DATA / GiB} GiB of data in ${dir}\n`);
  makeRaw(raw);
  // Both converters then find the data in the page cache, so neither pays for the first read.
  spawnSync('cat', [raw], { stdio: ['ignore', 'ignore', 'inherit'] });

  const qemuOut = join(dir, 'qemu.vhd');
  const builtinOut = join(dir, 'builtin.vhd');
  const writer = join(import.meta.dirname, '..', 'images', 'vhd-writer.ts');
  const script = `import { writeDynamicVhd } from ${JSON.stringify(writer)};
    await writeDynamicVhd({ input: process.argv[1], output: process.argv[2] });`;
  const results = [
    measure(
      'qemu-img convert -O vpc -o subformat=dynamic',
      [qemuImg, 'convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', raw, qemuOut],
      qemuOut,
    ),
    measure(
      'built-in converter (images/vhd-writer.ts)',
      [process.execPath, '--input-type=module', '-e', script, raw, builtinOut],
      builtinOut,
    ),
  ];
  const checks = [identical(qemuImg, raw, qemuOut), identical(qemuImg, raw, builtinOut)];
  const qemuVersion = spawnSync(qemuImg, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];

  const lines = [
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / GiB)} GiB memory; ` +
      `${qemuVersion}; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`,
    // The machine is shared; the load says how much of it the run had.
    `Load average before the run: ${loadBefore}.`,
    `Input: ${RAW_SIZE / GiB} GiB sparse raw, ${DATA / GiB} GiB of random data in ${CHUNK / MiB} MiB runs spread evenly.`,
    '',
    '| converter | wall time (s) | peak RSS (MiB) | output size (bytes) | allocated on disk (MiB) | qemu-img compare |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...results.map(
      (r, i) =>
        `| ${r.name} | ${r.wallSeconds.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} | ${r.outputBytes} | ` +
        `${(r.allocatedBytes / MiB).toFixed(0)} | ${checks[i]} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (checks.some((c) => c !== 'identical')) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
