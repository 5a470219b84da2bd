import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import {
  Invalid,
  NotFound,
  PROVIDER_ERROR_TYPES,
  QuotaExceeded,
  RateLimited,
  Transient,
  redact,
  toApplicationFailure,
} from '../providers/errors.ts';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { HttpClient, cloudMessage, parseRetryAfter } from '../providers/openstack/http.ts';
import { TAGS, hasTags, isOwnedBy, nodeTags, uploadTags, validateMetadata } from '../providers/tags.ts';
import { toAddresses } from '../providers/openstack/nova.ts';

test('each provider error converts to an ApplicationFailure with its stable type and retry decision', () => {
  const op = { operation: 'server.create', status: 400 };
  const cases = [
    [new Invalid('bad', op), PROVIDER_ERROR_TYPES.invalid, true],
    [new QuotaExceeded('full', op), PROVIDER_ERROR_TYPES.quotaExceeded, true],
    [new Transient('flaky', op), PROVIDER_ERROR_TYPES.transient, false],
    [new NotFound('gone', op), PROVIDER_ERROR_TYPES.notFound, false],
  ] as const;
  for (const [err, type, nonRetryable] of cases) {
    const f = toApplicationFailure(err);
    assert.ok(f instanceof ApplicationFailure);
    assert.equal(f.type, type);
    assert.equal(f.nonRetryable, nonRetryable, type);
    assert.equal(f.message, err.message);
    assert.equal(f.nextRetryDelay, undefined);
  }
  const limited = toApplicationFailure(
    new RateLimited('slow down', { operation: 'x', status: 429, retryAfterMs: 7000 }),
  );
  assert.ok(limited instanceof ApplicationFailure);
  assert.equal(limited.type, 'ProviderRateLimited');
  assert.equal(limited.nonRetryable, false);
  assert.equal(limited.nextRetryDelay, 7000);
  const other = new Error('not ours');
  assert.equal(toApplicationFailure(other), other);
});

test('Retry-After as seconds, as an HTTP date, or absent', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter('0'), 0);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000);
  assert.equal(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter(null), 1000);
  assert.equal(parseRetryAfter('soon'), 1000);
});

test('messages are read from the Keystone, Nova and Glance envelopes and from plain text', () => {
  assert.equal(
    cloudMessage(
      { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } },
      '',
    ),
    'The request you have made requires authentication.',
  );
  assert.equal(
    cloudMessage({ itemNotFound: { code: 404, message: 'Instance abc could not be found.' } }, ''),
    'Instance abc could not be found.',
  );
  assert.equal(
    cloudMessage(
      { message: 'No image found with ID x<br /><br />\n\n\n', code: '404 Not Found', title: 'Not Found' },
      '',
    ),
    'No image found with ID x',
  );
  assert.equal(
    cloudMessage(undefined, '404 Not Found\n\nThe resource could not be found.'),
    '404 Not Found The resource could not be found.',
  );
  assert.equal(cloudMessage(undefined, '<html><body><h1>502 Bad Gateway</h1></body></html>'), '502 Bad Gateway');
  assert.equal(cloudMessage(undefined, ''), '(no message)');
});

test('redact removes every occurrence of each secret', () => {
  assert.equal(
    redact('token abcd1234 and abcd1234 again, pw hunter2', ['abcd1234', 'hunter2', undefined]),
    'token [redacted] and [redacted] again, pw [redacted]',
  );
});

test('tags: builders, ownership, matching and Nova metadata rules', () => {
  const t = nodeTags({ provider: 'rax-dfw', nodeId: '0000000042', imageName: 'ubuntu-noble' });
  assert.deepEqual(t, {
    nodepool_provider_name: 'rax-dfw',
    nodepool_node_id: '0000000042',
    nodepool_image_name: 'ubuntu-noble',
  });
  assert.equal(uploadTags({ provider: 'p', uploadId: 'u1', imageName: 'i', buildId: 'b1' })[TAGS.buildId], 'b1');
  assert.ok(isOwnedBy({ ...t, other: 'x' }, 'rax-dfw'));
  assert.ok(!isOwnedBy({ ...t }, 'rax-iad'));
  assert.ok(!isOwnedBy({}, 'rax-dfw'));
  assert.ok(hasTags({ ...t, extra: '1' }, t));
  assert.ok(!hasTags({ ...t, nodepool_node_id: '43' }, t));
  assert.throws(() => validateMetadata({ 'bad/key': 'v' }), /metadata key "bad\/key"/);
  assert.throws(() => validateMetadata({ k: 'v'.repeat(256) }), /at most 255/);
});

test('public and private addresses are told apart without Neutron', () => {
  assert.deepEqual(
    toAddresses({
      private: [
        { addr: '10.0.0.5', version: 4, 'OS-EXT-IPS:type': 'fixed' },
        { addr: '203.0.113.9', version: 4, 'OS-EXT-IPS:type': 'floating' },
        { addr: 'fe80::1', version: 6 },
        { addr: '2001:db8::5', version: 6 },
      ],
    }),
    { privateIpv4: '10.0.0.5', publicIpv4: '203.0.113.9', publicIpv6: '2001:db8::5' },
  );
  assert.deepEqual(toAddresses({ public: [{ addr: '198.51.100.7', version: 4 }] }), { publicIpv4: '198.51.100.7' });
});

/** A stand-in for a misbehaving proxy in front of a cloud (not something we own): answers as told. */
async function proxy(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const srv = createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server: srv,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

test(
  'API calls share at most 16 kept-alive connections per endpoint, however many run at once, closed when idle',
  { timeout: 20_000 },
  async (t) => {
    // Requests are held until 16 are waiting, then all answered: more connections than 16 would show as more than 16
    // waiting at once, and connections not kept alive as more than 16 made.
    const sockets: Socket[] = [];
    let mostWaiting = 0;
    let waiting: ServerResponse[] = [];
    const p = await proxy((req, res) => {
      waiting.push(res);
      mostWaiting = Math.max(mostWaiting, waiting.length);
      if (waiting.length < 16) return;
      for (const r of waiting.splice(0)) {
        r.writeHead(200, { 'content-type': 'application/json' });
        r.end(JSON.stringify({ servers: [] }));
      }
      waiting = [];
    });
    t.after(p.close);
    p.server.on('connection', (socket: Socket) => sockets.push(socket));
    // The server would keep idle connections for a minute: closing them is the client's doing.
    p.server.keepAliveTimeout = 60_000;
    const http = new HttpClient({ timeoutMs: 15_000, secrets: () => [] });
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        http.request({ operation: 'server.list', method: 'GET', url: `${p.url}/servers?i=${i}` }),
      ),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      Array.from({ length: 64 }, () => 200),
    );
    assert.equal(mostWaiting, 16);
    assert.equal(sockets.length, 16);
    // Idle connections are closed by the client after 4 s, before servers that close at 5 s would; each one's
    // close event is awaited, for at most 15 s.
    const deadline = AbortSignal.timeout(15_000);
    await Promise.all(
      sockets.map((socket) => (socket.closed ? undefined : once(socket, 'close', { signal: deadline }))),
    );
  },
);

test('redirects are refused rather than followed with the token, and echoed secrets are scrubbed', async (t) => {
  const p = await proxy((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { location: 'http://elsewhere.invalid/steal' });
      res.end();
      return;
    }
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`upstream failed for token ${String(req.headers['x-auth-token'])}`);
  });
  t.after(p.close);
  const http = new HttpClient({ timeoutMs: 5000, secrets: () => ['tok-very-secret'] });
  const headers = { 'x-auth-token': 'tok-very-secret' };
  const redirected = await http
    .request({ operation: 'server.list', method: 'GET', url: `${p.url}/redirect`, headers })
    .then(
      () => assert.fail('a redirect must not succeed'),
      (e: unknown) => e,
    );
  assert.ok(redirected instanceof Invalid);
  assert.match(redirected.message, /redirected to http:\/\/elsewhere\.invalid\/steal/);
  const echoed = await http.request({ operation: 'server.list', method: 'GET', url: `${p.url}/echo`, headers }).then(
    () => assert.fail('a 500 must not succeed'),
    (e: unknown) => e,
  );
  assert.ok(echoed instanceof Transient);
  assert.equal(echoed.status, 500);
  assert.ok(!echoed.message.includes('tok-very-secret'), echoed.message);
  assert.match(echoed.message, /token \[redacted\]/);
});
