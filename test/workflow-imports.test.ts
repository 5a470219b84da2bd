// Layers the lint rules keep apart must stay apart: no I/O in workflow code, and a CLI that acts only through Temporal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = join(import.meta.dirname, '..');

async function lintAsWorkflow(code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  // An existing workflow path, so the type-aware parser and the workflows/ rules both apply.
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, 'workflows', 'worker-health.ts') });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

test('workflows may not import node built-ins, the database, providers or image tools', async () => {
  for (const spec of ['node:fs', '../db/orm.ts', '../providers/index.ts', '../images/convert.ts', 'pg']) {
    const messages = await lintAsWorkflow(`import { x } from '${spec}';\nexport const y = x;\n`);
    assert.ok(
      messages.some((m) => m.startsWith('@typescript-eslint/no-restricted-imports')),
      `${spec}: ${messages.join('; ')}`,
    );
  }
});

test('workflows may import activity types and pure core modules', async () => {
  const code = [
    "import type { Activities } from '../activities/index.ts';",
    "import { planConversions } from '../core/conversion-plan.ts';",
    'export type A = Activities;',
    'export const p = planConversions;',
    '',
  ].join('\n');
  const messages = await lintAsWorkflow(code);
  assert.deepEqual(
    messages.filter((m) => m.includes('no-restricted-imports')),
    [],
  );
});

test('the CLI may not import activities, providers or the database, not even their types', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const filePath = join(ROOT, 'cli', 'actions', 'info.ts');
  for (const spec of [
    '../../activities/provider.ts',
    '../../providers/index.ts',
    '../../db/orm.ts',
    '../../worker/worker.ts',
  ]) {
    const [result] = await eslint.lintText(`import type { X } from '${spec}';\nexport type Y = X;\n`, { filePath });
    assert.ok(
      (result?.messages ?? []).some((m) => m.message.includes('reaches the worker through Temporal')),
      spec,
    );
  }
  const [ok] = await eslint.lintText(
    "import type { ProviderSnapshot } from '../../core/views.ts';\nexport type Y = ProviderSnapshot;\n",
    { filePath },
  );
  assert.deepEqual(
    (ok?.messages ?? []).filter((m) => m.ruleId?.includes('no-restricted-imports')),
    [],
  );
});

test('the same layers hold for import(), which the CLI uses to load its commands lazily', async () => {
  const eslint = new ESLint({ cwd: ROOT });
  const filePath = join(ROOT, 'cli', 'actions', 'info.ts');
  const lint = async (spec: string): Promise<string[]> => {
    const [result] = await eslint.lintText(`export const load = () => import('${spec}');\n`, { filePath });
    return (result?.messages ?? []).map((m) => m.message);
  };
  for (const spec of [
    '../../activities/provider.ts',
    '../../providers/index.ts',
    '../../db/orm.ts',
    '../../worker/worker.ts',
  ])
    assert.ok(
      (await lint(spec)).some((m) => m.includes('reaches the worker through Temporal')),
      spec,
    );
  for (const spec of ['../../core/views.ts', '../../worker/bundle.ts', '@temporalio/client'])
    assert.deepEqual(await lint(spec), [], spec);
  const [workflow] = await eslint.lintText("export const load = () => import('../core/pool-plan.ts');\n", {
    filePath: join(ROOT, 'workflows', 'worker-health.ts'),
  });
  assert.ok(
    (workflow?.messages ?? []).some((m) => m.message === 'workflows import statically'),
    'a workflow may not import() at all',
  );
});
