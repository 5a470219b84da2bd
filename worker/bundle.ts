// The workflow bundle, made in a short-lived child process: webpack and what it loads stay out of the worker,
// whose memory is then what the workflows and activities need (bundling in the worker itself left it hundreds of
// MB larger for its whole life). `node worker/bundle.ts OUT` writes the bundle to OUT.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKFLOWS = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundles the workflows in a child process and returns the code, for `workflowBundle: { code }`. */
export async function bundleInChild(): Promise<{ code: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-bundle-'));
  const out = join(dir, 'workflows.js');
  try {
    const stderr = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), out], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve(err)
          : reject(new Error(`bundling the workflows failed (exit ${code}):\n${err.slice(-4000)}`)),
      );
    });
    void stderr;
    return { code: readFileSync(out, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: undefined });
  writeFileSync(process.argv[2] as string, code);
}
