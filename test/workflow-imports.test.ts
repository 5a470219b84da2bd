// Workflow code runs in Temporal's deterministic sandbox; the lint rule that keeps I/O out of it must bite.
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
