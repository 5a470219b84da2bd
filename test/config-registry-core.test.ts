// The registry's decisions (core/config-registry.ts): who may serve a task queue with which configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import {
  HEARTBEAT_MS,
  MEMBER_STALE_MS,
  emptyRegistry,
  heartbeat,
  join,
  leave,
  type ConfigSummary,
  type RegistryState,
} from '../core/config-registry.ts';

const cfg = (digest: string): ConfigSummary => ({
  digest,
  providers: [`p-${digest}`],
  diskimages: [],
  labels: [],
  files: [`/etc/${digest}.yaml`],
});
const T = 1_000_000;

function joined(state: RegistryState, identity: string, digest: string, now: number, replace = false) {
  return join(state, { identity, config: cfg(digest), replace }, now);
}

test('the first worker sets the configuration; the same one joins; another one is refused naming the holders', () => {
  const a = joined(emptyRegistry(), 'a', 'X', T);
  assert.deepEqual(a.result, { accepted: true, how: 'first' });
  const b = joined(a.state, 'b', 'X', T + 1000);
  assert.deepEqual(b.result, { accepted: true, how: 'same' });
  const c = joined(b.state, 'c', 'Y', T + 2000);
  assert.equal(c.result.accepted, false);
  if (c.result.accepted) return;
  assert.equal(c.result.registered.digest, 'X');
  assert.deepEqual(
    c.result.holders.map((h) => [h.identity, h.secondsAgo]),
    [
      ['a', 2],
      ['b', 1],
    ],
  );
  assert.deepEqual(Object.keys(c.state.members).sort(), ['a', 'b'], 'a refused worker is not a member');
});

test('replace: the new configuration is the one; old workers learn it at their next heartbeat', () => {
  let s = joined(emptyRegistry(), 'a', 'X', T).state;
  const r = joined(s, 'b', 'Y', T + 10, true);
  assert.deepEqual(r.result, { accepted: true, how: 'replaced', previous: cfg('X') });
  s = r.state;
  assert.equal(s.current?.digest, 'Y');
  assert.equal(s.current?.setBy, 'b');
  const hbA = heartbeat(s, 'a', 'X', T + HEARTBEAT_MS);
  assert.equal(hbA.result.current, false);
  assert.equal(hbA.result.registered?.digest, 'Y');
  assert.equal(heartbeat(s, 'b', 'Y', T + HEARTBEAT_MS).result.current, true);
  // A worker of the new configuration joins while a replaced one has not noticed yet.
  assert.deepEqual(joined(s, 'c', 'Y', T + 20).result, { accepted: true, how: 'same' });
  // A worker of the old configuration is refused: the new one has a live holder.
  assert.equal(joined(s, 'd', 'X', T + 30).result.accepted, false);
});

test('a configuration whose workers all left, or died (no heartbeat for a minute), is taken over without the flag', () => {
  const s = joined(emptyRegistry(), 'a', 'X', T).state;
  const afterLeave = joined(leave(s, 'a'), 'b', 'Y', T + 1000);
  assert.deepEqual(afterLeave.result, { accepted: true, how: 'abandoned', previous: cfg('X') });
  assert.equal(joined(s, 'b', 'Y', T + MEMBER_STALE_MS - 1).result.accepted, false, 'still alive just before');
  assert.equal(joined(s, 'b', 'Y', T + MEMBER_STALE_MS).result.accepted, true, 'gone after a minute of silence');
});

test('a worker restarting under the same identity with another configuration is not blocked by its old self', () => {
  const s = joined(emptyRegistry(), 'a', 'X', T).state;
  assert.equal(joined(s, 'a', 'Y', T + 5).result.accepted, true);
});

test('heartbeats keep members alive; one forgotten as stale comes back only with the current configuration', () => {
  let s = joined(emptyRegistry(), 'a', 'X', T).state;
  for (let t = T + HEARTBEAT_MS; t < T + 10 * MEMBER_STALE_MS; t += HEARTBEAT_MS) s = heartbeat(s, 'a', 'X', t).state;
  assert.equal(joined(s, 'b', 'Y', T + 10 * MEMBER_STALE_MS - 1).result.accepted, false, 'a is alive');
  const late = heartbeat(joined(emptyRegistry(), 'a', 'X', T).state, 'a', 'X', T + 5 * MEMBER_STALE_MS);
  assert.equal(late.result.current, true);
  assert.ok(late.state.members.a, 'back as a member');
  const stranger = heartbeat(s, 'z', 'Y', T + 1);
  assert.equal(stranger.result.current, false);
  assert.equal(stranger.state.members.z, undefined, 'a worker that never joined does not become a member');
});

test('property: a join is refused exactly when another configuration has a live worker and no replace was asked', () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('join' as const),
      id: fc.constantFrom('a', 'b', 'c', 'd'),
      digest: fc.constantFrom('X', 'Y', 'Z'),
      replace: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('beat' as const), id: fc.constantFrom('a', 'b', 'c', 'd') }),
    fc.record({ kind: fc.constant('leave' as const), id: fc.constantFrom('a', 'b', 'c', 'd') }),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(op, fc.integer({ min: 0, max: 2 * MEMBER_STALE_MS })), { maxLength: 40 }), (ops) => {
      let s = emptyRegistry();
      let now = T;
      const digestOf = new Map<string, string>();
      for (const [o, dt] of ops) {
        now += dt;
        if (o.kind === 'join') {
          const r = join(s, { identity: o.id, config: cfg(o.digest), replace: o.replace }, now);
          const holders = Object.values(s.members).filter(
            (m) => m.identity !== o.id && now - m.lastSeen < MEMBER_STALE_MS && m.digest === s.current?.digest,
          );
          // Refused exactly when another configuration is registered, has a live worker, and no replace was asked.
          const expectRefusal =
            s.current !== undefined && s.current.digest !== o.digest && holders.length > 0 && !o.replace;
          assert.equal(!r.result.accepted, expectRefusal);
          s = r.state;
          if (r.result.accepted) {
            digestOf.set(o.id, o.digest);
            assert.equal(s.current?.digest, o.digest, 'an accepted worker runs the registered configuration');
          }
        } else if (o.kind === 'beat') {
          const d = digestOf.get(o.id);
          if (d === undefined) continue;
          const r = heartbeat(s, o.id, d, now);
          assert.equal(r.result.current, s.current?.digest === d);
          s = r.state;
        } else {
          s = leave(s, o.id);
          digestOf.delete(o.id);
        }
      }
    }),
  );
});
