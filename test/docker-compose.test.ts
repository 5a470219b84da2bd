// No Docker engine runs on our machines, so the compose file is checked by parsing it: every service has an
// image, what it runs exists in this checkout, and the worker points at the services the file defines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.ts';

const ROOT = join(import.meta.dirname, '..');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
  working_dir?: string;
}

test('docker-compose.yml: pinned images, commands that exist here, and a worker wired to its services', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
  };
  const services = compose.services;
  assert.deepEqual(Object.keys(services).sort(), ['postgres', 'sim-cloud', 'temporal', 'worker']);
  for (const [name, s] of Object.entries(services)) {
    assert.match(s.image ?? '', /^[\w./-]+:[\w.-]+$/, `${name} has a tagged image`);
    assert.doesNotMatch(s.image ?? '', /:latest$/, `${name} is pinned`);
    for (const arg of s.command ?? []) {
      // Paths the containers run from the mounted checkout must exist in it.
      if (/\.(ts|yaml)$/.test(arg)) assert.ok(existsSync(join(ROOT, arg)), `${name}: ${arg} exists`);
    }
  }
  for (const [attr, type] of Object.entries(SEARCH_ATTRIBUTES))
    assert.ok(services.temporal?.command?.includes(`--search-attribute=${attr}=${type}`), `temporal registers ${attr}`);
  const env = services.worker?.environment ?? {};
  assert.match(env.DATABASE_URL ?? '', /@postgres:5432\//);
  assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233');
  assert.ok(existsSync(join(ROOT, (env.NODEPOOL_CONFIG ?? '').replace(/^\/app\//, ''))), 'worker config exists');
  assert.deepEqual(Object.keys(services.worker?.depends_on ?? {}).sort(), ['postgres', 'temporal']);
});
