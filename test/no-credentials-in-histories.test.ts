// Workflow histories are visible to anyone with the Web UI, so no credential may enter one. After a real run — the
// worker process starting its pools, catalogs and schedules, a script build with a secret env-var, its upload to
// two providers (one with a password, one with an application credential), min-ready nodes launched on both —
// EVERY history of the task queue (and of the configuration registry's) is scanned for the clouds.yaml secrets and
// the diskimage's env-var value, as text and as base64.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Client } from '@temporalio/client';
import type { NodeView } from '../workflows/pool-api.ts';
import { BUILD_SCRIPT } from './support/build-script.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';

const tag = Math.random().toString(36).slice(2, 8);
const image = `creds-${tag}`;
const withPassword = `pw-${tag}`;
const withAppCred = `ac-${tag}`;
// The simulator's nodepool user has this password (simulator/identity.ts); clouds.yaml gives it.
const PASSWORD = 'secret';
const APP_CRED_SECRET = `appcred-${randomBytes(12).toString('hex')}`;
const ENV_SECRET = `envvar-${randomBytes(12).toString('hex')}`;

let env: NodepoolEnv;
let worker: ChildProcess;

/** An application credential with a secret of our choosing, made through the simulated Keystone's API. */
async function makeAppCredential(authUrl: string): Promise<string> {
  const auth = await fetch(`${authUrl}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'nodepool', domain: { name: 'Default' }, password: PASSWORD } },
        },
        scope: { project: { name: 'nodepool', domain: { name: 'Default' } } },
      },
    }),
  });
  assert.equal(auth.status, 201);
  const token = auth.headers.get('x-subject-token') as string;
  const userId = ((await auth.json()) as { token: { user: { id: string } } }).token.user.id;
  const made = await fetch(`${authUrl}/v3/users/${userId}/application_credentials`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-auth-token': token },
    body: JSON.stringify({ application_credential: { name: `nodepool-${tag}`, secret: APP_CRED_SECRET } }),
  });
  assert.equal(made.status, 201);
  return ((await made.json()) as { application_credential: { id: string } }).application_credential.id;
}

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'creds',
    files: { 'build.sh': [`${BUILD_SCRIPT}echo "token is $NODEPOOL_TEST_TOKEN" >/dev/null\n`, 0o755] },
    sim: { knobs: { bootSeconds: { min: 0.05, max: 0.1 } } },
    config: `
# A label per provider: min-ready is split among the providers offering a label.
labels:
  - name: tiny-${withPassword}
    min-ready: 1
  - name: tiny-${withAppCred}
    min-ready: 1
diskimages:
  - name: ${image}
    builder: script
    script: build.sh
    env-vars:
      NODEPOOL_TEST_TOKEN: ${ENV_SECRET}
providers:
${[
  [withPassword, 'simcloud'],
  [withAppCred, 'appcred'],
]
  .map(
    ([name, cloud]) => `  - name: ${name}
    cloud: ${cloud}
    rate: 0
    boot-timeout: 20
    launch-timeout: 60
    diskimages: [{name: ${image}}]
    cloud-images:
      - name: cirros
        image-name: cirros-0.6
        connection-port: {{sshPort}}
    pools:
      - name: main
        max-servers: 2
        labels:
          - name: tiny-${name}
            cloud-image: cirros
            flavor-name: m1.tiny`,
  )
  .join('\n')}
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  await plainImage(env.sim, 'cirros-0.6', Buffer.alloc(1024 * 1024, 7));
  const appCredId = await makeAppCredential(env.sim.authUrl);
  // The same simulator as a second cloud that signs in with the application credential instead.
  writeFileSync(
    join(env.dir, 'clouds.yaml'),
    [
      'clouds:',
      '  simcloud:',
      '    auth:',
      `      auth_url: ${env.sim.authUrl}`,
      '      username: nodepool',
      `      password: ${PASSWORD}`,
      '      project_name: nodepool',
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      '    region_name: RegionOne',
      '  appcred:',
      '    auth_type: v3applicationcredential',
      '    auth:',
      `      auth_url: ${env.sim.authUrl}`,
      `      application_credential_id: ${appCredId}`,
      `      application_credential_secret: ${APP_CRED_SECRET}`,
      '    region_name: RegionOne',
      '',
    ].join('\n'),
  );
  worker = await env.spawnWorker();
});

after(async () => {
  worker?.kill('SIGTERM');
  await env?.close();
});

/** History as text, payload bytes decoded (they hold JSON), so a secret in any field shows. */
function historyText(history: unknown): string {
  return JSON.stringify(history, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v));
}

function leaks(text: string): string[] {
  const found: string[] = [];
  for (const [what, secret] of [
    ['the clouds.yaml password', PASSWORD],
    ['the application credential secret', APP_CRED_SECRET],
    ["the diskimage's env-var value", ENV_SECRET],
  ] as const) {
    if (text.includes(secret)) found.push(what);
    if (text.includes(Buffer.from(secret).toString('base64'))) found.push(`${what} (base64)`);
  }
  return found;
}

test('the scanner finds a secret in payload bytes (it can fail)', () => {
  const fake = {
    events: [{ input: { payloads: [{ data: new TextEncoder().encode(`{"p":"${APP_CRED_SECRET}"}`) }] } }],
  };
  assert.deepEqual(leaks(historyText(fake)), ['the application credential secret']);
});

test('after a build, uploads to both providers and min-ready nodes on both, no history holds a credential', async () => {
  const built = await env.cli(['image-build', image, '--wait', '--timeout', '240']);
  assert.equal(built.code, 0, `${built.stdout}\n${built.stderr}`);
  await until(
    'a READY upload on both providers',
    async () => {
      const r = await env.cli(['image-list', '--json']);
      const rows = (JSON.parse(r.stdout) as { provider: string; image: string; state: string }[]).filter(
        (x) => x.image === image && x.state === 'ready',
      );
      return new Set(rows.map((x) => x.provider)).size === 2 ? true : undefined;
    },
    120_000,
  );
  await until(
    'a READY node on both providers',
    async () => {
      const r = await env.cli(['list', '--json']);
      const ready = (JSON.parse(r.stdout) as NodeView[]).filter((n) => n.state === 'ready');
      return new Set(ready.map((n) => n.provider)).size === 2 ? true : undefined;
    },
    120_000,
  );

  const client: Client = env.client;
  // Every workflow of the deployment, the configuration registry's included, runs on its task queue.
  const ids: { workflowId: string; runId: string; type: string }[] = [];
  for await (const w of client.workflow.list({ query: `TaskQueue = '${env.taskQueue}'` }))
    ids.push({ workflowId: w.workflowId, runId: w.runId, type: w.type });
  const types = new Set(ids.map((w) => w.type));
  // The scan covers the whole run, not a corner of it.
  for (const t of ['imageBuild', 'providerPool', 'imageCatalog', 'nodepoolConfigRegistry'])
    assert.ok(types.has(t), `${t} among ${[...types].join(', ')}`);

  const found: string[] = [];
  let scanned = 0;
  for (const w of ids) {
    const text = historyText(await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory());
    scanned++;
    assert.ok(text.includes(env.taskQueue), 'a history names its task queue: the text is the real history');
    for (const leak of leaks(text)) found.push(`${w.type} ${w.workflowId}: ${leak}`);
  }
  assert.ok(scanned >= 6, `scanned ${scanned} histories`);
  assert.deepEqual(found, []);
});
