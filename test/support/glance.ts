// Images made with plain Keystone and Glance calls, as any other tool would make them: untagged, so nodepool must
// treat them as someone else's (a cloud's base images, an operator's uploads).
import assert from 'node:assert/strict';

async function session(sim: { authUrl: string }): Promise<{ token: string; glance: string }> {
  const auth = await fetch(`${sim.authUrl}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'nodepool', domain: { name: 'Default' }, password: 'secret' } },
        },
        scope: { project: { name: 'nodepool', domain: { name: 'Default' } } },
      },
    }),
  });
  assert.equal(auth.status, 201, await auth.clone().text());
  const token = auth.headers.get('x-subject-token') as string;
  const body = (await auth.json()) as {
    token: { catalog: { type: string; endpoints: { interface: string; url: string }[] }[] };
  };
  const glance = body.token.catalog.find((s) => s.type === 'image')?.endpoints.find((e) => e.interface === 'public')
    ?.url as string;
  return { token, glance: glance.replace(/\/$/, '') };
}

/** An untagged image record; with `data` it is uploaded and active. Returns its id. */
export async function plainImage(sim: { authUrl: string }, name: string, data?: Buffer): Promise<string> {
  const { token, glance } = await session(sim);
  const made = await fetch(`${glance}/v2/images`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-auth-token': token },
    body: JSON.stringify({ name, disk_format: 'raw', container_format: 'bare' }),
  });
  assert.equal(made.status, 201, await made.clone().text());
  const id = ((await made.json()) as { id: string }).id;
  if (data) {
    const put = await fetch(`${glance}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-auth-token': token },
      body: data,
    });
    assert.equal(put.status, 204, await put.clone().text());
  }
  return id;
}
