// Benchmark: the built-in raw → dynamic VHD converter against `qemu-img convert -O vpc -o subformat=dynamic`
// on the same 4 GiB sparse raw image holding 1 GiB of data, and the whole `nodepool image-convert` process.
// Each runs as its own process under /usr/bin/time, so wall time and peak RSS are its own; each is run
// RUNS times, alternating, after a `sync` so no run pays for the previous one's writeback. Prints a Markdown
// table; `--write-doc` also replaces the results in docs/BENCHMARKS.md.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath } from '../images/tools.ts';
import { machineLine, writeResults } from './report.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RAW_SIZE = 4 * GiB;
const DATA = 1 * GiB;
const CHUNK = 4 * MiB;
const RUNS = 5;
const ROOT = join(import.meta.dirname, '..');

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

interface Case {
  name: string;
  argv: string[];
  /** The file it writes (removed before each run); none for the baselines. */
  output?: string;
}

interface Sample {
  wallSeconds: number;
  peakRssKiB: number;
  /** The conversion alone, as the process measured it (without its start-up), where it reports one. */
  convertSeconds?: number;
}

function runOnce(c: Case): Sample {
  if (c.output) rmSync(c.output, { force: true });
  spawnSync('sync');
  const time = findOnPath('time') ?? '/usr/bin/time';
  const r = spawnSync(time, ['-f', 'TIME %e %M', ...c.argv], { encoding: 'utf8' });
  if (r.status !== 0) fail(`${c.name} failed:\n${r.stdout}${r.stderr}`);
  const m = /TIME ([\d.]+) (\d+)\s*$/.exec(r.stderr);
  if (!m) fail(`no timing from ${time} for ${c.name}: ${r.stderr}`);
  const own = /CONVERT_MS ([\d.]+)/.exec(r.stdout);
  return {
    wallSeconds: Number(m[1]),
    peakRssKiB: Number(m[2]),
    ...(own ? { convertSeconds: Number(own[1]) / 1000 } : {}),
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function identical(qemuImg: string, raw: string, vhd: string): string {
  const r = spawnSync(qemuImg, ['compare', '-f', 'raw', '-F', 'vpc', raw, vhd], { encoding: 'utf8' });
  return r.status === 0 ? 'identical' : `DIFFERS: ${r.stdout.trim()} ${r.stderr.trim()}`;
}

const qemuImg = findOnPath('qemu-img') ?? fail('qemu-img not found; apt-get install qemu-utils');
const loadBefore = loadavg()
  .map((l) => l.toFixed(2))
  .join(', ');
const t0 = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'bench-vhd-'));
try {
  const raw = join(dir, 'disk.raw');
  process.stderr.write(`making a ${RAW_SIZE / GiB} GiB sparse raw with ${DATA / GiB} GiB of data in ${dir}\n`);
  makeRaw(raw);
  // Every converter then finds the data in the page cache, so none pays for the first read.
  spawnSync('cat', [raw], { stdio: ['ignore', 'ignore', 'inherit'] });

  const node = process.execPath;
  // What convertImage runs for `builtin` before it hashes: qemu-img map for the holes, then the writer.
  const writerScript = `import { writeDynamicVhd } from ${JSON.stringify(join(ROOT, 'images', 'vhd-writer.ts'))};
    import { rawDataExtents } from ${JSON.stringify(join(ROOT, 'images', 'extents.ts'))};
    const t0 = performance.now();
    const extents = await rawDataExtents(process.argv[1], { qemuImg: ${JSON.stringify(qemuImg)} });
    await writeDynamicVhd({ input: process.argv[1], output: process.argv[2], extents });
    process.stdout.write('CONVERT_MS ' + (performance.now() - t0));`;
  const out = (name: string): string => join(dir, name);
  const cases: Case[] = [
    {
      name: 'qemu-img convert -O vpc -o subformat=dynamic',
      argv: [qemuImg, 'convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', raw, out('qemu.vhd')],
      output: out('qemu.vhd'),
    },
    {
      name: 'built-in converter (qemu-img map + images/vhd-writer.ts)',
      argv: [node, '--input-type=module', '-e', writerScript, raw, out('builtin.vhd')],
      output: out('builtin.vhd'),
    },
    {
      name: '`nodepool image-convert --to vhd --converter builtin` (+ sha256, fsync)',
      argv: [node, join(ROOT, 'bin', 'nodepool.js'), 'image-convert', raw, '--to', 'vhd', '-o', out('cli.vhd')].concat([
        '--converter',
        'builtin',
      ]),
      output: out('cli.vhd'),
    },
    { name: 'baseline: `nodepool --help`', argv: [node, join(ROOT, 'bin', 'nodepool.js'), '--help'] },
    { name: 'baseline: `node -e ""`', argv: [node, '-e', ''] },
  ];
  // The `nodepool` command as installed (bin/nodepool.js), its bundle current as after any first run.
  spawnSync(node, [join(ROOT, 'cli', 'bundle.ts'), '--warm'], { stdio: 'ignore' });
  const samples = new Map<string, Sample[]>(cases.map((c) => [c.name, []]));
  for (let i = 0; i < RUNS; i++) for (const c of cases) samples.get(c.name)?.push(runOnce(c));

  const rows = cases.map((c) => {
    const s = samples.get(c.name) ?? [];
    const st = c.output ? statSync(c.output) : undefined;
    const walls = s.map((x) => x.wallSeconds);
    const own = s.flatMap((x) => (x.convertSeconds === undefined ? [] : [x.convertSeconds]));
    return (
      `| ${c.name} | ${median(walls).toFixed(2)} | ${walls.map((w) => w.toFixed(2)).join(', ')} | ` +
      `${own.length ? median(own).toFixed(2) : '–'} | ` +
      `${(Math.max(...s.map((x) => x.peakRssKiB)) / 1024).toFixed(0)} | ${st ? st.size : '–'} | ` +
      `${st ? ((st.blocks * 512) / MiB).toFixed(0) : '–'} | ${c.output ? identical(qemuImg, raw, c.output) : '–'} |`
    );
  });
  const qemuVersion = spawnSync(qemuImg, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
  const lines = [
    machineLine(new Date().toString(), loadBefore, (Date.now() - t0) / 1000, qemuVersion),
    '',
    `Input: ${RAW_SIZE / GiB} GiB sparse raw, ${DATA / GiB} GiB of random data in ${CHUNK / MiB} MiB runs spread evenly; ` +
      `${RUNS} runs of each, alternating. "Conversion alone" is the time the process measured around the conversion, without its start-up.`,
    '',
    '| process | median wall (s) | each run (s) | median conversion alone (s) | peak RSS (MiB) | output size (bytes) | allocated on disk (MiB) | qemu-img compare |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |',
    ...rows,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (rows.some((r) => r.includes('DIFFERS'))) process.exitCode = 1;
  else if (process.argv.includes('--write-doc')) await writeResults('vhd', '## VHD conversion', lines);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
