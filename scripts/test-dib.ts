// `npm run test:dib`: the end-to-end proof of the dib builder, outside the ordinary test run (it needs root,
// the network to Debian's archive and a few minutes). Installs diskimage-builder from PyPI into the project
// venv, builds a partitionless `debian-minimal` bookworm image from the Debian mirrors apt uses here, converts it
// to qcow2 and VHD with the real converters, and checks every file with tools we did not write.
//
// Phases are separate functions over one Run record, so the build workflow (with uploads to sim-cloud) can later
// replace build() + convert() without touching the checks.
//
//   npm run test:dib [-- --keep] [-- --direct]
//     by default the whole lifecycle runs: the imageBuild workflow on its own Temporal dev server builds the image,
//     converts it (qcow2 and VHD) and uploads it to two simulated providers; --direct calls the builder and the
//     converters without Temporal; --keep leaves the images in .tmp/test-dib/images
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildRawImage } from '../images/builders/build.ts';
import { DIB_VERSION } from '../images/builders/build.ts';
import type { BuildSpec } from '../images/builders/environment.ts';
import { convertImage, type ConvertedImage } from '../images/convert.ts';
import { findOnPath } from '../images/tools.ts';
import { ROOT, ensureDebianCommands, ensurePip, log } from './tools.ts';

export interface Run {
  work: string;
  imagesDir: string;
  logPath: string;
  spec: BuildSpec;
  version: number;
  raw?: { path: string; size: number; sha256: string; seconds: number };
  converted: (ConvertedImage & { seconds: number })[];
  report: string[];
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Runs a command, echoing it and its output into the report. */
function shown(run: Run, cmd: string, args: string[], opts: { allowFail?: boolean } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const out = `${r.stdout}${r.stderr}`.trimEnd();
  run.report.push(`$ ${[cmd, ...args].join(' ')}`, ...(out ? [out] : []), '');
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${out}`);
  return out;
}

/** The Debian mirrors apt uses here: deb822 .sources files and one-line sources.list. */
export function aptMirrors(): { archive: string; security: string } {
  const entries: { uri: string; suites: string[] }[] = [];
  const dir = '/etc/apt/sources.list.d';
  const files = [...(existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : []), '/etc/apt/sources.list'].filter(
    (f) => existsSync(f) && (f.endsWith('.sources') || f.endsWith('.list')),
  );
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string): string | undefined =>
          new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza.replace(/^#.*$/gm, ''))?.[1]?.trim();
        const uri = field('URIs')?.split(/\s+/)[0];
        const suites = field('Suites')?.split(/\s+/) ?? [];
        if (uri) entries.push({ uri, suites });
      }
    } else {
      for (const m of text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/gm))
        entries.push({ uri: m[1] as string, suites: [m[2] as string] });
    }
  }
  const archive = entries.find((e) => e.suites.includes('bookworm'))?.uri;
  const security = entries.find((e) => e.suites.includes('bookworm-security'))?.uri;
  if (!archive || !security)
    throw new Error(`no bookworm and bookworm-security entries in ${files.join(', ')}; cannot pick Debian mirrors`);
  return { archive: archive.replace(/\/$/, ''), security: security.replace(/\/$/, '') };
}

export function prepare(): Run {
  if (process.getuid?.() !== 0)
    throw new Error('test:dib must run as root: diskimage-builder mounts, chroots and attaches loop devices');
  ensureDebianCommands({
    debootstrap: 'debootstrap',
    sudo: 'sudo',
    'qemu-img': 'qemu-utils',
    vhdiinfo: 'libvhdi-utils',
    debugfs: 'e2fsprogs',
    losetup: 'mount',
  });
  const dib = ensurePip([`diskimage-builder==${DIB_VERSION}`], 'disk-image-create');
  const installed = spawnSync(join(ROOT, '.venv', 'bin', 'python'), ['-m', 'pip', 'show', 'diskimage-builder'], {
    encoding: 'utf8',
  }).stdout.match(/^Version: (.+)$/m)?.[1];
  if (installed !== DIB_VERSION)
    throw new Error(
      `the venv has diskimage-builder ${installed}, not ${DIB_VERSION}: pip install diskimage-builder==${DIB_VERSION}`,
    );
  const mirrors = aptMirrors();
  const work = join(ROOT, '.tmp', 'test-dib');
  const imagesDir = join(work, 'images');
  rmSync(imagesDir, { recursive: true, force: true });
  const run: Run = {
    work,
    imagesDir,
    logPath: join(work, 'build.log'),
    version: Math.floor(Date.now() / 1000),
    spec: {
      image: 'debian-bookworm',
      builder: 'dib',
      // Partitionless: no `vm` or `block-device-*` elements, which need device-mapper (kpartx).
      elements: ['debian-minimal'],
      release: 'bookworm',
      envVars: {
        DIB_DISTRIBUTION_MIRROR: mirrors.archive,
        DIB_DEBIAN_SECURITY_MIRROR: mirrors.security,
        // Kept between runs: debootstrap's tarball and apt's downloads.
        DIB_IMAGE_CACHE: join(work, 'cache'),
      },
      dibCmd: dib,
      formats: ['qcow2', 'vhd'],
      buildTimeoutSeconds: 3600,
    },
    converted: [],
    report: [],
  };
  rmSync(run.logPath, { force: true });
  say(`diskimage-builder ${installed} at ${dib}; mirrors ${mirrors.archive}, ${mirrors.security}; work dir ${work}`);
  return run;
}

export async function build(run: Run): Promise<void> {
  const started = Date.now();
  say(`building ${run.spec.image} (${run.spec.elements?.join(' ')}, ${run.spec.release}); log ${run.logPath}`);
  const built = await buildRawImage({
    spec: run.spec,
    version: run.version,
    buildId: 1,
    imagesDir: run.imagesDir,
    logPath: run.logPath,
    onProgress: () => undefined,
  });
  run.raw = { path: built.rawPath, size: built.size, sha256: built.sha256, seconds: (Date.now() - started) / 1000 };
  const lines = readFileSync(run.logPath, 'utf8').split('\n');
  run.report.push(
    `# build: ${run.raw.seconds.toFixed(0)} s, ${lines.length} log lines`,
    ...lines.filter((l) => l.startsWith('nodepool: ')),
    '',
  );
}

export async function convert(run: Run): Promise<void> {
  if (!run.raw) throw new Error('convert() needs build() first');
  const targets: [ConvertedImage['format'], 'auto' | 'builtin' | 'vhd-util'][] = [
    ['qcow2', 'auto'],
    ['vhd', 'builtin'],
  ];
  if (findOnPath('vhd-util')) targets.push(['vhd', 'vhd-util']);
  for (const [format, converter] of targets) {
    const started = Date.now();
    const suffix = format === 'vhd' ? `.${converter}` : '';
    const result = await convertImage({
      input: run.raw.path,
      output: join(run.imagesDir, `${run.spec.image}-${run.version}${suffix}.${format}`),
      format,
      converter,
    });
    run.converted.push({ ...result, seconds: (Date.now() - started) / 1000 });
  }
}

export function check(run: Run): void {
  if (!run.raw) throw new Error('check() needs build() first');
  const raw = run.raw.path;
  const mib = (n: number): string => `${(n / 1024 ** 2).toFixed(0)} MiB`;
  run.report.push(`# files in ${run.imagesDir}`);
  for (const name of readdirSync(run.imagesDir).sort()) {
    const st = statSync(join(run.imagesDir, name));
    run.report.push(
      `${name}: ${st.isDirectory() ? 'directory' : `${st.size} bytes (${mib(st.size)}), ${mib(st.blocks * 512)} on disk`}`,
    );
  }
  run.report.push('', `raw sha256 ${run.raw.sha256}`, '', '# the raw image is a Debian bookworm root file system');
  shown(run, 'e2fsck', ['-fn', raw]);
  const osRelease = shown(run, 'debugfs', ['-R', 'cat /usr/lib/os-release', raw]);
  if (!/VERSION_CODENAME=bookworm/.test(osRelease)) throw new Error('the image is not Debian bookworm');
  run.report.push('# conversions');
  for (const c of run.converted) {
    // Through the workflow the conversion times are its activities' (in the Web UI), not measured here.
    const took = c.seconds > 0 ? `${c.seconds.toFixed(1)} s, ` : '';
    run.report.push(`${c.format} by ${c.converter}: ${took}${c.size} bytes, sha256 ${c.sha256}`);
    const qemuFormat = c.format === 'vhd' ? 'vpc' : c.format;
    const cmp = shown(run, 'qemu-img', ['compare', '-f', 'raw', '-F', qemuFormat, raw, c.path]);
    if (!/Images are identical/.test(cmp)) throw new Error(`${c.path} differs from the raw image`);
    shown(run, 'qemu-img', ['info', c.path]);
    if (c.format === 'qcow2') shown(run, 'qemu-img', ['check', c.path]);
    if (c.format === 'vhd') {
      const info = shown(run, 'vhdiinfo', [c.path]);
      if (!/Disk type\s*:\s*Dynamic/.test(info)) throw new Error(`${c.path}: vhdiinfo does not see a dynamic VHD`);
    }
  }
}

/**
 * The whole lifecycle: the imageBuild workflow on its own dev server, with a worker in this process, PGlite, and
 * the simulator as two providers (a KVM cloud taking qcow2, a Xen cloud taking VHD); the uploads are then checked
 * against the files.
 */
export async function lifecycle(run: Run): Promise<void> {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { Client, Connection } = await import('@temporalio/client');
  const { NativeConnection } = await import('@temporalio/worker');
  const { stringify } = await import('yaml');
  const { startServer } = await import('../bench/server.ts');
  const { startSimCloud } = await import('../simulator/index.ts');
  const { loadConfig } = await import('../config/index.ts');
  const { migrate, openDatabase } = await import('../db/orm.ts');
  const { ImageBuild } = await import('../db/entities/index.ts');
  const { buildSpecResolver } = await import('../worker/build-spec.ts');
  const { createNodepoolWorker } = await import('../worker/worker.ts');
  const { adapterForCloud } = await import('../providers/index.ts');
  const { freePort } = await import('./tools.ts');
  const logs = join(run.work, 'logs');
  mkdirSync(run.imagesDir, { recursive: true });
  mkdirSync(logs, { recursive: true });
  const server = await startServer(run.work);
  const sim = await startSimCloud({ stateDir: join(run.work, 'sim'), sshPort: await freePort() });
  const orm = await openDatabase({ dataDir: 'memory://' });
  try {
    await migrate(orm);
    writeFileSync(
      join(run.work, 'clouds.yaml'),
      stringify({
        clouds: {
          sim: {
            region_name: 'RegionOne',
            auth: {
              auth_url: sim.authUrl,
              username: 'nodepool',
              password: 'secret',
              project_name: 'nodepool',
              user_domain_name: 'Default',
              project_domain_name: 'Default',
            },
          },
        },
      }),
    );
    const taskQueue = `test-dib-${process.pid}`;
    const configFile = join(run.work, 'nodepool.yaml');
    writeFileSync(
      configFile,
      stringify({
        diskimages: [
          {
            name: run.spec.image,
            builder: 'dib',
            elements: run.spec.elements,
            release: run.spec.release,
            'env-vars': run.spec.envVars,
            'dib-cmd': run.spec.dibCmd,
            'build-timeout': run.spec.buildTimeoutSeconds,
            pause: true,
          },
        ],
        providers: [
          { name: 'sim-kvm', cloud: 'sim', rate: 0, 'image-format': 'qcow2', diskimages: [{ name: run.spec.image }] },
          {
            name: 'sim-xen',
            cloud: 'sim',
            rate: 0,
            'image-format': 'vhd',
            'vhd-converter': 'builtin',
            diskimages: [{ name: run.spec.image }],
          },
        ],
        'images-dir': run.imagesDir,
        'build-log-dir': logs,
        temporal: { address: server.address, 'task-queue': taskQueue },
      }),
    );
    const config = loadConfig(configFile);
    const cloudEnv = { OS_CLIENT_CONFIG_FILE: join(run.work, 'clouds.yaml') };
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const worker = await createNodepoolWorker({
      connection: nativeConnection,
      taskQueue,
      orm,
      config,
      cloudEnv,
      buildSpecFor: buildSpecResolver(config),
    });
    const started = Date.now();
    say(
      `imageBuild workflow on ${server.address} (temporal ${server.version}); providers sim-kvm (qcow2), sim-xen (vhd)`,
    );
    const handle = await client.workflow.start('imageBuild', {
      taskQueue,
      workflowId: `test-dib-${run.spec.image}-${Date.now()}`,
      args: [{ image: run.spec.image }],
    });
    const result = (await worker.runUntil(handle.result())) as {
      buildId: number;
      version: number;
      state: string;
      providers: { provider: string; state: string; uploadId?: number; externalId?: string; reason?: string }[];
    };
    const seconds = (Date.now() - started) / 1000;
    await nativeConnection.close();
    if (result.state !== 'ready')
      throw new Error(`the build ended ${result.state}: ${JSON.stringify(result.providers)}`);
    run.version = result.version;
    run.logPath = join(logs, `${run.spec.image}-${result.version}.log`);
    const build = await orm.em.fork().findOneOrFail(ImageBuild, result.buildId);
    const raw = build.files.find((f) => f.format === 'raw');
    if (!raw) throw new Error('the build recorded no raw file');
    run.raw = { path: raw.path, size: raw.size, sha256: raw.sha256, seconds };
    for (const f of build.files.filter((x) => x.format !== 'raw'))
      run.converted.push({
        path: f.path,
        format: f.format as never,
        converter: f.converter as never,
        size: f.size,
        sha256: f.sha256,
        seconds: 0,
      });
    run.report.push(
      `# the imageBuild workflow ${handle.workflowId}: ${seconds.toFixed(0)} s, build ${result.buildId}, version ${result.version}`,
    );
    const adapter = adapterForCloud('sim', { env: cloudEnv, fresh: true });
    for (const p of result.providers) {
      if (p.state !== 'ready' || !p.externalId) throw new Error(`${p.provider}: ${p.state} ${p.reason ?? ''}`);
      const image = await adapter.getImage(p.externalId);
      const file = build.files.find((f) => f.format === image.diskFormat);
      if (!file || image.size !== file.size || image.state !== 'active')
        throw new Error(
          `${p.provider}: image ${image.id} (${image.diskFormat}, ${image.size} bytes, ${image.state}) does not match the build's file`,
        );
      run.report.push(
        `${p.provider}: upload ${p.uploadId}, image ${image.id}, ${image.diskFormat}, ${image.size} bytes, ${image.state}, checksum ${image.checksum ?? image.hashValue ?? '-'}`,
      );
    }
    run.report.push(
      ...readFileSync(run.logPath, 'utf8')
        .split('\n')
        .filter((l) => /^nodepool: |converted /.test(l)),
      '',
    );
    await connection.close();
  } finally {
    await orm.close();
    await sim.close();
    server.proc.kill('SIGTERM');
  }
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const run = prepare();
  try {
    if (process.argv.includes('--direct')) {
      await build(run);
      await convert(run);
    } else await lifecycle(run);
    check(run);
    say(run.report.join('\n'));
    say('test:dib: passed');
  } finally {
    if (!keep) rmSync(run.imagesDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    log(`test:dib failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
