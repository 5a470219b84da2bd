// /os-keypairs: a user's SSH key pairs (create with a public key or, before 2.92, a generated one; list; show;
// delete), and the lookup that makes a server create with an unknown key_name a 400, as in Nova.
import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import type { KeypairRecord, TokenRecord } from '../state.ts';
import { atLeast } from './microversion.ts';
import { invalid } from './validation.ts';

const { utils } = ssh2;

/** The colon-separated MD5 of the key blob, as Nova prints it; undefined when the key cannot be read. */
function fingerprint(publicKey: string): string | undefined {
  const parsed = utils.parseKey(publicKey);
  if (parsed instanceof Error) return undefined;
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key) return undefined;
  const digest = createHash('md5').update(key.getPublicSSH()).digest('hex');
  return digest.replace(/(..)(?!$)/g, '$1:');
}

export function findKeypair(cloud: Cloud, userId: string, name: string): KeypairRecord | undefined {
  return cloud.keypairs[userId]?.[name];
}

function render(ctx: RequestContext, k: KeypairRecord, full: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { name: k.name, public_key: k.publicKey, fingerprint: k.fingerprint };
  if (atLeast(ctx, 2)) out.type = k.type;
  if (full) {
    Object.assign(out, {
      user_id: k.userId,
      id: k.seq,
      created_at: k.createdAt.replace('Z', '.000000'),
      updated_at: null,
      deleted_at: null,
      deleted: false,
    });
  }
  return out;
}

export async function keypairs(cloud: Cloud, ctx: RequestContext, token: TokenRecord, name?: string): Promise<Reply> {
  const mine = (cloud.keypairs[token.userId] ??= {});
  if (name === undefined) {
    if (ctx.method === 'GET') {
      const list = Object.values(mine).sort((a, b) => a.name.localeCompare(b.name));
      return { status: 200, json: { keypairs: list.map((k) => ({ keypair: render(ctx, k, false) })) } };
    }
    if (ctx.method !== 'POST') throw new HttpError(405, 'The method is not allowed for the requested URL.');
    const body = await readJson(ctx.req, 'compute');
    const kp = isObject(body) ? body.keypair : undefined;
    if (!isObject(kp)) throw invalid('root', body, "'keypair' is a required property");
    const pattern = atLeast(ctx, 92) ? /^[a-zA-Z0-9 @._-]{1,255}$/ : /^[a-zA-Z0-9 _-]{1,255}$/;
    if (typeof kp.name !== 'string' || !pattern.test(kp.name) || kp.name.trim() !== kp.name) {
      throw invalid('name', kp.name, 'Keypair name contains unsafe characters or is not 1 to 255 characters');
    }
    if (mine[kp.name]) throw new HttpError(409, `Key pair '${kp.name}' already exists.`);
    const type = kp.type === undefined ? 'ssh' : kp.type;
    if (type !== 'ssh' && type !== 'x509')
      throw invalid('type', type, `'${String(type)}' is not one of ['ssh', 'x509']`);
    let publicKey = kp.public_key;
    let privateKey: string | undefined;
    if (publicKey === undefined) {
      if (atLeast(ctx, 92)) throw invalid('keypair', kp, "'public_key' is a required property");
      const generated = utils.generateKeyPairSync('ed25519', { comment: kp.name });
      publicKey = generated.public;
      privateKey = generated.private;
    }
    if (typeof publicKey !== 'string') throw invalid('public_key', publicKey, "is not of type 'string'");
    const print = fingerprint(publicKey.trim());
    if (print === undefined) throw new HttpError(400, 'Keypair data is invalid: failed to generate fingerprint');
    const record: KeypairRecord = {
      name: kp.name,
      userId: token.userId,
      publicKey: publicKey.trim(),
      fingerprint: print,
      type,
      seq: cloud.store.nextSeq(),
      createdAt: isoSeconds(Date.now()),
    };
    mine[kp.name] = record;
    cloud.save();
    const json = { keypair: { ...render(ctx, record, false), user_id: record.userId } };
    if (privateKey !== undefined) Object.assign(json.keypair, { private_key: privateKey });
    return { status: atLeast(ctx, 2) ? 201 : 200, json };
  }
  const k = mine[name];
  if (!k) throw new HttpError(404, `Keypair ${name} not found for user ${token.userId}`);
  if (ctx.method === 'GET') return { status: 200, json: { keypair: render(ctx, k, true) } };
  if (ctx.method === 'DELETE') {
    delete mine[name];
    cloud.save();
    return { status: atLeast(ctx, 2) ? 204 : 202 };
  }
  throw new HttpError(405, 'The method is not allowed for the requested URL.');
}
