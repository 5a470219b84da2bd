// convertImage and `nodepool image-convert`: which converter runs, what bad input gets, that nothing
// partial is ever left, and the vhd-util path where a vhd-util exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseConverter, convertImage, type ConvertImageOptions } from '../images/convert.ts';
import { ImageConvertError } from '../images/errors.ts';
import { findOnPath } from '../images/tools.ts';
import { runCli } from './support/cli.ts';
import { GiB, MiB, sparseRaw, workDir } from './support/images.ts';

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function qemuCompare(raw: string, format: string, image: string): void {
  const r = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', format, raw, image], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  const info = JSON.parse(spawnSync('qemu-img', ['info', '--output=json', image], { encoding: 'utf8' }).stdout) as {
    format: string;
  };
  assert.equal(info.format, format);
}

const noQemu = 'qemu-img is not installed (Debian qemu-utils); run the tests through scripts/test-env.ts';

test('qcow2 and raw go through qemu-img; the result records converter, size and sha256', async (t) => {
  if (!findOnPath('qemu-img')) return t.skip(noQemu);
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 24 * MiB, [[MiB, randomBytes(3 * MiB)]]);
  const before = sha256(raw);
  for (const [format, qemuFormat] of [
    ['qcow2', 'qcow2'],
    ['raw', 'raw'],
  ] as const) {
    const output = join(dir, `out.${format}`);
    const logged: string[] = [];
    const result = await convertImage({ input: raw, output, format, log: (l) => logged.push(l) });
    assert.deepEqual(result, {
      path: output,
      format,
      converter: 'qemu-img',
      size: readFileSync(output).length,
      sha256: sha256(output),
    });
    qemuCompare(raw, qemuFormat, output);
  }
  assert.equal(sha256(raw), before, 'the build raw is not altered');
  assert.deepEqual(readdirSync(dir).sort(), ['build.raw', 'out.qcow2', 'out.raw']);
});

test('vhd uses the built-in converter when no vhd-util is found, unless vhd-util is forced', (t) => {
  const dir = workDir(t);
  const empty = join(dir, 'empty-bin');
  mkdirSync(empty);
  assert.deepEqual(chooseConverter({ format: 'qcow2' }), { converter: 'qemu-img' });
  assert.deepEqual(chooseConverter({ format: 'vhd', pathList: empty }), { converter: 'builtin' });
  assert.deepEqual(chooseConverter({ format: 'vhd', converter: 'builtin', pathList: empty }), { converter: 'builtin' });
  assert.throws(
    () => chooseConverter({ format: 'vhd', converter: 'vhd-util', pathList: empty, provider: 'rax-ord' }),
    (err: unknown) =>
      err instanceof ImageConvertError &&
      err.kind === 'tool-missing' &&
      !err.retryable &&
      /vhd-util not found on PATH \(needed by provider rax-ord\)/.test(err.message),
  );
});

test('auto picks a vhd-util found on the PATH it is given, and builtin still wins when asked for', (t) => {
  const dir = workDir(t);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const tool = join(bin, 'vhd-util');
  writeFileSync(tool, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  assert.deepEqual(chooseConverter({ format: 'vhd', pathList: bin }), { converter: 'vhd-util', vhdUtil: tool });
  assert.deepEqual(chooseConverter({ format: 'vhd', converter: 'builtin', pathList: bin }), { converter: 'builtin' });
});

test('with a real vhd-util: its two-step output reads back identical and matches the built-in fields', async (t) => {
  const vhdUtil = findOnPath('vhd-util');
  if (!vhdUtil) return t.skip('no vhd-util on PATH: no registry we reach packages the patched vhd-util');
  if (!findOnPath('qemu-img')) return t.skip(noQemu);
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 64 * MiB, [[0, randomBytes(MiB)]]);
  const before = sha256(raw);
  const logged: string[] = [];
  const viaTool = await convertImage({
    input: raw,
    output: join(dir, 'tool.vhd'),
    format: 'vhd',
    converter: 'vhd-util',
    log: (l) => logged.push(l),
  });
  const builtin = await convertImage({
    input: raw,
    output: join(dir, 'builtin.vhd'),
    format: 'vhd',
    converter: 'builtin',
  });
  assert.equal(viaTool.converter, 'vhd-util');
  assert.equal(sha256(raw), before);
  qemuCompare(raw, 'vpc', viaTool.path);
  qemuCompare(raw, 'vpc', builtin.path);
  const a = readFileSync(viaTool.path).subarray(-512);
  const b = readFileSync(builtin.path).subarray(-512);
  // Creator, versions, sizes, geometry and type agree; timestamp, checksum and UUID differ by nature.
  for (const [from, to] of [
    [0, 24],
    [28, 64],
  ])
    assert.deepEqual(b.subarray(from, to), a.subarray(from, to), `footer bytes ${from}-${to}`);
  assert.deepEqual(readdirSync(dir).sort(), ['build.raw', 'builtin.vhd', 'tool.vhd'], 'no .bak or intermediate left');

  // A raw that is not whole 2 MiB blocks: past its end the disk must read zeros, not vhd-util's footer.
  const odd = join(dir, 'odd.raw');
  sparseRaw(odd, 5_281_792, [[5_281_792 - 4096, randomBytes(4096)]]);
  const oddVhd = await convertImage({ input: odd, output: join(dir, 'odd.vhd'), format: 'vhd', converter: 'vhd-util' });
  const asRaw = join(dir, 'odd-back.raw');
  const back = spawnSync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', oddVhd.path, asRaw], { encoding: 'utf8' });
  assert.equal(back.status, 0, back.stderr);
  const disk = readFileSync(asRaw);
  assert.ok(disk.subarray(0, 5_281_792).equals(readFileSync(odd)), 'the raw, byte for byte');
  assert.ok(disk.subarray(5_281_792).equals(Buffer.alloc(disk.length - 5_281_792)), 'then zeros, no footer');
});

async function rejectsNaming(opts: ConvertImageOptions, re: RegExp, kind: string): Promise<void> {
  await assert.rejects(convertImage(opts), (err: unknown) => {
    assert.ok(err instanceof ImageConvertError, String(err));
    assert.equal(err.kind, kind);
    assert.match(err.message, re);
    return true;
  });
}

test('bad input and unwritable targets get clear errors naming the file, and nothing is left behind', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'ok.raw');
  sparseRaw(raw, 4 * MiB);
  const out = join(dir, 'out.vhd');
  const missing = join(dir, 'missing.raw');
  await rejectsNaming(
    { input: missing, output: out, format: 'vhd' },
    new RegExp(`${missing} does not exist`),
    'bad-input',
  );
  await rejectsNaming(
    { input: dir, output: out, format: 'vhd' },
    new RegExp(`${dir} is not a regular file`),
    'bad-input',
  );
  const empty = join(dir, 'empty.raw');
  writeFileSync(empty, '');
  await rejectsNaming({ input: empty, output: out, format: 'vhd' }, new RegExp(`${empty} is empty`), 'bad-input');
  const ragged = join(dir, 'ragged.raw');
  sparseRaw(ragged, 4 * MiB + 100);
  await rejectsNaming(
    { input: ragged, output: out, format: 'qcow2' },
    new RegExp(`${ragged} is ${4 * MiB + 100} bytes, not a whole number of 512-byte sectors.*truncate -s %512`),
    'bad-input',
  );
  const tooBig = join(dir, 'too-big.raw');
  sparseRaw(tooBig, 2041 * GiB);
  await rejectsNaming({ input: tooBig, output: out, format: 'vhd' }, /too-big\.raw.*2040 GiB/, 'bad-input');
  const noDir = join(dir, 'no', 'such', 'dir', 'out.vhd');
  await rejectsNaming({ input: raw, output: noDir, format: 'vhd' }, new RegExp(`cannot write ${noDir}`), 'bad-output');
  await rejectsNaming({ input: raw, output: join(empty, 'out.vhd'), format: 'vhd' }, /not writable/, 'bad-output');
  await rejectsNaming({ input: raw, output: raw, format: 'raw' }, /is the input image/, 'bad-output');
  await rejectsNaming({ input: raw, output: dir, format: 'vhd' }, /is a directory/, 'bad-output');
  await rejectsNaming({ input: raw, output: out, format: 'vmdk' as never }, /unknown image format vmdk/, 'bad-input');
  assert.deepEqual(readdirSync(dir).sort(), ['empty.raw', 'ok.raw', 'ragged.raw', 'too-big.raw']);
});

test('an unwritable target directory and an unreadable input are reported with the file named', async (t) => {
  // Root ignores file permissions, so as root the CLI runs as nobody; either way the real command runs.
  const asRoot = process.getuid?.() === 0;
  if (asRoot && !findOnPath('runuser')) return t.skip('running as root without runuser to drop privileges');
  const dir = workDir(t);
  chmodSync(dir, 0o755);
  const raw = join(dir, 'ok.raw');
  sparseRaw(raw, 4 * MiB);
  chmodSync(raw, 0o644);
  const locked = join(dir, 'locked');
  mkdirSync(locked, { mode: 0o555 });
  const secret = join(dir, 'secret.raw');
  sparseRaw(secret, 4 * MiB);
  chmodSync(secret, 0o000);
  const cli = (args: string[]): { status: number | null; stderr: string } => {
    const argv = [process.execPath, join(import.meta.dirname, '..', 'cli', 'main.ts'), 'image-convert', ...args];
    const r = asRoot
      ? spawnSync('runuser', ['-u', 'nobody', '--', ...argv], { encoding: 'utf8', cwd: '/' })
      : spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  };
  const out = join(locked, 'out.vhd');
  const unwritable = cli([raw, '--to', 'vhd', '-o', out]);
  assert.equal(unwritable.status, 1);
  assert.match(
    unwritable.stderr,
    new RegExp(`cannot write ${out}: its directory ${locked} is missing or not writable`),
  );
  const unreadable = cli([secret, '--to', 'vhd', '-o', join(dir, 'o.vhd')]);
  assert.equal(unreadable.status, 1);
  assert.match(unreadable.stderr, new RegExp(`input image ${secret} is not readable`));
  assert.deepEqual(readdirSync(locked), []);
  assert.deepEqual(readdirSync(dir).sort(), ['locked', 'ok.raw', 'secret.raw']);
});

test('cancelling a conversion stops it and removes the partial file, for builtin and qemu-img alike', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'big.raw');
  sparseRaw(raw, 8 * GiB, [
    [0, randomBytes(MiB)],
    [6 * GiB, randomBytes(MiB)],
  ]);
  const converters: [ConvertImageOptions['format'], ConvertImageOptions['converter']][] = [['vhd', 'builtin']];
  if (findOnPath('qemu-img')) converters.push(['qcow2', 'auto']);
  for (const [format, converter] of converters) {
    const abort = new AbortController();
    const reason = new Error(`cancelled ${format}`);
    let seen = 0;
    await assert.rejects(
      convertImage({
        input: raw,
        output: join(dir, `out.${format}`),
        format,
        converter,
        signal: abort.signal,
        onProgress: (p) => {
          // Cancel once the conversion is demonstrably under way, not before it starts.
          if (p.phase === 'convert' && p.bytesDone > 0 && seen++ === 0) abort.abort(reason);
        },
      }),
      (err) => err === reason,
    );
    assert.ok(seen > 0, `${format}: progress was reported before the cancellation`);
    assert.deepEqual(readdirSync(dir), ['big.raw'], `${format}: no partial file left`);
  }
  if (converters.length === 1) t.diagnostic(`qemu-img cancellation not exercised: ${noQemu}`);
});

test('nodepool image-convert converts, prints one plain result line, and fails clearly on bad input', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 6 * MiB, [[2 * MiB, randomBytes(1000)]]);
  const out = join(dir, 'build.vhd');
  const ok = await runCli(['image-convert', raw, '--to', 'vhd', '-o', out, '--converter', 'builtin']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, `${out}: vhd by builtin, ${readFileSync(out).length} bytes, sha256 ${sha256(out)}\n`);
  assert.equal(ok.stderr, '', 'no progress display when stderr is not a terminal');
  if (findOnPath('qemu-img')) qemuCompare(raw, 'vpc', out);

  const bad = await runCli(['image-convert', join(dir, 'nope.raw'), '--to', 'vhd', '-o', join(dir, 'x.vhd')]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /nope\.raw does not exist/);

  const emptyBin = join(dir, 'bin');
  mkdirSync(emptyBin);
  const forced = await runCli(
    ['image-convert', raw, '--to', 'vhd', '-o', join(dir, 'y.vhd'), '--converter', 'vhd-util'],
    {
      env: { PATH: emptyBin },
    },
  );
  assert.notEqual(forced.code, 0);
  assert.match(forced.stderr, /vhd-util not found on PATH/);

  const wrongFormat = await runCli(['image-convert', raw, '--to', 'vmdk', '-o', join(dir, 'z.vmdk')]);
  assert.notEqual(wrongFormat.code, 0);
  assert.match(wrongFormat.stderr, /Choices: "qcow2", "raw", "vhd"/);
  assert.deepEqual(readdirSync(dir).sort(), ['bin', 'build.raw', 'build.vhd']);
});

test('on a terminal, nodepool image-convert shows progress on stderr and clears it before the result', (t) => {
  const script = findOnPath('script');
  if (!script) return t.skip('util-linux `script` is not installed, so no terminal can be given to the CLI');
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 64 * MiB, [[0, randomBytes(MiB)]]);
  const out = join(dir, 'build.vhd');
  // The converter is named: `auto` would pick a vhd-util wherever the machine happens to have one.
  const cmd = [process.execPath, join(import.meta.dirname, '..', 'cli', 'main.ts'), 'image-convert', raw, '--to', 'vhd']
    .concat(['-o', out, '--converter', 'builtin'])
    .map((a) => `'${a}'`)
    .join(' ');
  // `script` runs the command on a pseudo-terminal and copies what it shows.
  const r = spawnSync(script, ['-qec', cmd, '/dev/null'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout);
  const redraw = '\r\u001b[K';
  assert.ok(r.stdout.includes(`${redraw}convert 100% (64.0 MiB of 64.0 MiB)`), JSON.stringify(r.stdout));
  assert.ok(r.stdout.includes(`${redraw}checksum 100%`));
  const lastLine = r.stdout.slice(r.stdout.lastIndexOf(redraw) + redraw.length);
  assert.match(lastLine, new RegExp(`^${out}: vhd by builtin, \\d+ bytes, sha256 [0-9a-f]{64}\\r?\\n$`));
});

test('files left by an earlier attempt that died are removed, and only those', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 4 * MiB, [[0, randomBytes(4096)]]);
  // What a killed worker leaves: a partial output, and vhd-util's copy and its .bak.
  const leftovers = [
    '.build.vhd.partial-0badf00d',
    '.build.vhd.intermediate-0badf00d',
    '.build.vhd.intermediate-0badf00d.bak',
  ];
  for (const name of leftovers) writeFileSync(join(dir, name), 'stale');
  writeFileSync(join(dir, '.other.vhd.partial-12345678'), 'another output of its own');
  const logged: string[] = [];
  await convertImage({
    input: raw,
    output: join(dir, 'build.vhd'),
    format: 'vhd',
    converter: 'builtin',
    log: (l) => logged.push(l),
  });
  assert.deepEqual(readdirSync(dir).sort(), ['.other.vhd.partial-12345678', 'build.raw', 'build.vhd']);
  assert.equal(logged.filter((l) => /^removing .*left by an earlier conversion/.test(l)).length, 3);
});

test('nodepool image-convert takes vhd-converter from nodepool.yaml, per provider, and flags override it', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 4 * MiB, [[0, randomBytes(512)]]);
  const emptyBin = join(dir, 'bin');
  mkdirSync(emptyBin);
  const env = { PATH: emptyBin };
  const config = join(dir, 'nodepool.yaml');
  writeFileSync(
    config,
    [
      'vhd-converter: vhd-util',
      'labels: [{name: l}]',
      'diskimages: [{name: d, elements: [vm]}]',
      'providers:',
      '  - name: xen',
      '    cloud: rax',
      '    image-format: qcow2',
      '    vhd-converter: builtin',
      '    diskimages: [{name: d}]',
      '    pools: [{name: p, max-servers: 1, labels: [{name: l, diskimage: d, flavor-name: f}]}]',
      '',
    ].join('\n'),
  );

  // The file's global setting forces vhd-util, which this PATH lacks: the error names the tool.
  const global = await runCli(['-c', config, 'image-convert', raw, '--to', 'vhd', '-o', join(dir, 'a.vhd')], { env });
  assert.notEqual(global.code, 0);
  assert.match(global.stderr, /vhd-util not found/);

  // The provider's own setting wins over the global one.
  const perProvider = await runCli(
    ['-c', config, 'image-convert', raw, '--to', 'vhd', '-o', join(dir, 'b.vhd'), '--provider', 'xen'],
    { env },
  );
  assert.equal(perProvider.code, 0, perProvider.stderr);
  assert.match(perProvider.stdout, /vhd by builtin/);

  // A flag wins over the file.
  const flag = await runCli(
    ['-c', config, 'image-convert', raw, '--to', 'vhd', '-o', join(dir, 'c.vhd'), '--converter', 'builtin'],
    { env },
  );
  assert.equal(flag.code, 0, flag.stderr);

  const unknown = await runCli([
    '-c',
    config,
    'image-convert',
    raw,
    '--to',
    'vhd',
    '-o',
    join(dir, 'd.vhd'),
    '--provider',
    'nope',
  ]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /provider nope is not in .*nodepool\.yaml \(providers: xen\)/);

  const missing = await runCli([
    '-c',
    join(dir, 'none.yaml'),
    'image-convert',
    raw,
    '--to',
    'vhd',
    '-o',
    join(dir, 'e.vhd'),
  ]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /none\.yaml does not exist/);
  assert.deepEqual(readdirSync(dir).sort(), ['b.vhd', 'bin', 'build.raw', 'c.vhd', 'nodepool.yaml']);
});

// A recording stand-in for vhd-util: it checks OUR side of the contract (the exact two command lines
// diskimage-builder runs, the tool's output in the build log, the .bak and intermediate removed, the raw
// file untouched, failures reported). Its output is a copy, not a VHD, and is not judged; the real tool's
// output is judged by the test above where a vhd-util exists.
function recordingVhdUtil(dir: string, failStep?: string): { path: string; calls: string } {
  const bin = join(dir, 'stand-in-bin');
  mkdirSync(bin, { recursive: true });
  const calls = join(dir, 'vhd-util-calls.txt');
  const path = join(bin, 'vhd-util');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      `echo "$*" >> '${calls}'`,
      // vhd-util convert -s S -t T -i IN -o OUT
      'IN="$7"; OUT="$9"',
      'if [ "$3" = 0 ]; then cp "$IN" "$IN.bak"; fi',
      failStep ? `if [ "$3" = ${failStep} ]; then echo "vhd-util: step $3 broke" >&2; exit 3; fi` : '',
      'if [ "$IN" != "$OUT" ]; then cp "$IN" "$OUT"; fi',
      'echo "converted $3 to $5"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { path, calls };
}

test('vhd-util is run as diskimage-builder runs it: two steps on a private copy, output logged, .bak removed', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 3 * MiB, [[MiB, randomBytes(4096)]]);
  const before = sha256(raw);
  const tool = recordingVhdUtil(dir);
  const logged: string[] = [];
  const out = join(dir, 'out', 'build.vhd');
  mkdirSync(join(dir, 'out'));
  const result = await convertImage({
    input: raw,
    output: out,
    format: 'vhd',
    converter: 'vhd-util',
    vhdUtilPath: tool.path,
    log: (l) => logged.push(l),
  });
  assert.equal(result.converter, 'vhd-util');
  assert.equal(result.path, out);
  assert.equal(result.sha256, sha256(out));
  const calls = readFileSync(tool.calls, 'utf8').trim().split('\n');
  assert.equal(calls.length, 2);
  const step1 = /^convert -s 0 -t 1 -i (\S+) -o (\S+)$/.exec(calls[0] ?? '');
  const step2 = /^convert -s 1 -t 2 -i (\S+) -o (\S+)$/.exec(calls[1] ?? '');
  assert.ok(step1 && step2, calls.join('\n'));
  assert.equal(step1[1], step1[2], 'step 1 converts in place');
  assert.equal(step2[1], step1[1], 'step 2 reads what step 1 wrote');
  assert.notEqual(step1[1], raw, 'the build raw file is never handed to vhd-util');
  assert.ok(step1[1]?.startsWith(join(dir, 'out')), 'the private copy lives beside the output');
  assert.deepEqual(logged, ['vhd-util: converted 0 to 1', 'vhd-util: converted 1 to 2']);
  assert.equal(sha256(raw), before, 'raw untouched');
  assert.deepEqual(readdirSync(join(dir, 'out')), ['build.vhd'], 'no intermediate, .bak or partial left');
});

test('a vhd-util that fails is reported with its command and output, and leaves nothing behind', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 2 * MiB, [[0, randomBytes(512)]]);
  const tool = recordingVhdUtil(dir, '1');
  const out = join(dir, 'out', 'build.vhd');
  mkdirSync(join(dir, 'out'));
  await assert.rejects(
    convertImage({ input: raw, output: out, format: 'vhd', converter: 'vhd-util', vhdUtilPath: tool.path }),
    (err: Error) => {
      assert.ok(err instanceof ImageConvertError);
      assert.match(err.message, /vhd-util convert -s 1 -t 2 .* failed \(exit 3\): vhd-util: step 1 broke/);
      return true;
    },
  );
  assert.deepEqual(readdirSync(join(dir, 'out')), []);
});
