// What a Keystone user may read and manage about itself with a project token: its user record, its projects,
// the default domain, and its application credentials (create, list, show, delete). Keystone administration
// (other users, projects, roles) is not emulated: asking about another user is refused as Keystone's policy does.
import { randomBytes } from 'node:crypto';
import type { Cloud } from './cloud.ts';
import type { Reply, RequestContext } from './http.ts';
import { HttpError, isObject, readJson } from './http.ts';
import { DOMAIN, PROJECTS, ROLES, USERS, projectById, rolesOn, userById, type Project } from './identity.ts';
import { appCredNotFound, secretDigest, tokenRoles } from './keystone.ts';
import type { AppCredRecord, TokenRecord } from './state.ts';

function forbidden(action: string): HttpError {
  return new HttpError(403, `You are not authorized to perform the requested action: identity:${action}.`);
}

function notFound(): HttpError {
  return new HttpError(404, 'The resource could not be found.');
}

function renderProject(cloud: Cloud, p: Project) {
  return {
    id: p.id,
    name: p.name,
    domain_id: DOMAIN.id,
    description: '',
    enabled: true,
    parent_id: DOMAIN.id,
    is_domain: false,
    tags: [],
    options: {},
    links: { self: `${cloud.authUrl}/v3/projects/${p.id}` },
  };
}

function renderAppCred(cloud: Cloud, ac: AppCredRecord) {
  return {
    id: ac.id,
    name: ac.name,
    description: ac.description,
    user_id: ac.userId,
    project_id: ac.projectId,
    expires_at: ac.expiresAt,
    unrestricted: ac.unrestricted,
    roles: ac.roles
      .map((name) => ROLES[name as keyof typeof ROLES])
      .filter((r) => r !== undefined)
      .map((r) => ({ id: r.id, name: r.name, domain_id: null })),
    access_rules: [],
    links: { self: `${cloud.authUrl}/v3/users/${ac.userId}/application_credentials/${ac.id}` },
  };
}

function listReply(cloud: Cloud, ctx: RequestContext, key: string, items: unknown[]): Reply {
  const self = `${cloud.authUrl}/v3/${ctx.path.slice(1).join('/')}${ctx.url.search}`;
  return { status: 200, json: { [key]: items, links: { self, previous: null, next: null } } };
}

async function createAppCred(cloud: Cloud, ctx: RequestContext, token: TokenRecord, userId: string): Promise<Reply> {
  const body = await readJson(ctx.req, 'identity');
  const ac = isObject(body) ? body.application_credential : undefined;
  if (!isObject(ac)) {
    throw new HttpError(400, "Invalid input for field 'application_credential': it is a required property.");
  }
  if (typeof ac.name !== 'string' || ac.name.length < 1 || ac.name.length > 255) {
    throw new HttpError(400, "Invalid input for field 'name': a string of 1 to 255 characters is required.");
  }
  if (token.projectId === undefined) {
    throw new HttpError(400, 'Application credentials must be created with a project-scoped token.');
  }
  if (token.appCredId !== undefined && !cloud.appCreds[token.appCredId]?.unrestricted) {
    throw new HttpError(
      403,
      'Using method application_credential is not allowed for managing additional application credentials.',
    );
  }
  if (Object.values(cloud.appCreds).some((r) => r.userId === userId && r.name === ac.name)) {
    throw new HttpError(
      409,
      'Conflict occurred attempting to store application_credential - Duplicate application credential.',
    );
  }
  let expiresAt: string | null = null;
  if (ac.expires_at !== undefined && ac.expires_at !== null) {
    if (typeof ac.expires_at !== 'string' || Number.isNaN(Date.parse(ac.expires_at))) {
      throw new HttpError(
        400,
        `Invalid input for field 'expires_at': ${JSON.stringify(ac.expires_at)} is not a date-time.`,
      );
    }
    expiresAt = ac.expires_at;
  }
  const held = tokenRoles(token);
  let roles = held;
  if (ac.roles !== undefined) {
    if (!Array.isArray(ac.roles)) throw new HttpError(400, "Invalid input for field 'roles': expected a list.");
    roles = ac.roles.map((r) => {
      const name = isObject(r) ? (r.name ?? Object.values(ROLES).find((x) => x.id === r.id)?.name) : undefined;
      if (typeof name !== 'string' || !held.includes(name)) {
        throw new HttpError(403, 'You are not authorized to perform the requested action: the role is not held.');
      }
      return name;
    });
  }
  if (ac.access_rules !== undefined) {
    throw new HttpError(400, 'Application credential access rules are not supported by this cloud.');
  }
  const secret = typeof ac.secret === 'string' && ac.secret !== '' ? ac.secret : randomBytes(48).toString('base64url');
  const record: AppCredRecord = {
    id: cloud.uuid().replace(/-/g, ''),
    name: ac.name,
    description: typeof ac.description === 'string' ? ac.description : null,
    userId,
    projectId: token.projectId,
    secretSha256: secretDigest(secret),
    roles,
    expiresAt,
    unrestricted: ac.unrestricted === true,
  };
  cloud.appCreds[record.id] = record;
  cloud.save();
  return { status: 201, json: { application_credential: { ...renderAppCred(cloud, record), secret } } };
}

/** Routes under /identity/v3 that need a token: `path` is what follows v3/. */
export async function userResources(
  cloud: Cloud,
  ctx: RequestContext,
  token: TokenRecord,
  path: string[],
): Promise<Reply> {
  const [coll, id, sub, subId, ...extra] = path;
  const m = ctx.method;
  if (extra.length > 0) throw notFound();
  if (coll === 'domains' && id !== undefined && sub === undefined && m === 'GET') {
    if (id !== DOMAIN.id) throw forbidden('get_domain');
    return {
      status: 200,
      json: {
        domain: {
          ...DOMAIN,
          description: 'The default domain',
          enabled: true,
          tags: [],
          options: {},
          links: { self: `${cloud.authUrl}/v3/domains/${DOMAIN.id}` },
        },
      },
    };
  }
  if (coll === 'projects' && id !== undefined && sub === undefined && m === 'GET') {
    const p = projectById(id);
    if (!p || token.projectId !== id) throw forbidden('get_project');
    return { status: 200, json: { project: renderProject(cloud, p) } };
  }
  if (coll === 'auth' && id === 'projects' && sub === undefined && m === 'GET') {
    const user = userById(token.userId)!;
    const mine = Object.values(PROJECTS).filter((p) => rolesOn(user, p.id).length > 0);
    return listReply(
      cloud,
      ctx,
      'projects',
      mine.map((p) => renderProject(cloud, p)),
    );
  }
  if (coll === 'auth' && id === 'domains' && sub === undefined && m === 'GET') {
    return listReply(cloud, ctx, 'domains', []);
  }
  if (coll !== 'users' || id === undefined) throw notFound();
  const user = USERS.find((u) => u.id === id);
  if (sub === undefined && m === 'GET') {
    if (!user || user.id !== token.userId) throw forbidden('get_user');
    return {
      status: 200,
      json: {
        user: {
          id: user.id,
          name: user.name,
          domain_id: DOMAIN.id,
          enabled: true,
          password_expires_at: null,
          options: {},
          links: { self: `${cloud.authUrl}/v3/users/${user.id}` },
        },
      },
    };
  }
  if (sub === 'projects' && subId === undefined && m === 'GET') {
    if (!user || user.id !== token.userId) throw forbidden('list_user_projects');
    const mine = Object.values(PROJECTS).filter((p) => rolesOn(user, p.id).length > 0);
    return listReply(
      cloud,
      ctx,
      'projects',
      mine.map((p) => renderProject(cloud, p)),
    );
  }
  if (sub !== 'application_credentials') throw notFound();
  const action = (verb: string) => (user && user.id === token.userId ? undefined : forbidden(verb));
  if (subId === undefined) {
    if (m === 'POST') {
      const refused = action('create_application_credential');
      if (refused) throw refused;
      return createAppCred(cloud, ctx, token, id);
    }
    if (m === 'GET') {
      const refused = action('list_application_credentials');
      if (refused) throw refused;
      const name = ctx.url.searchParams.get('name');
      const mine = Object.values(cloud.appCreds).filter((r) => r.userId === id && (name === null || r.name === name));
      return listReply(
        cloud,
        ctx,
        'application_credentials',
        mine.map((r) => renderAppCred(cloud, r)),
      );
    }
    throw new HttpError(405, 'The method is not allowed for the requested URL.');
  }
  const refused = action(m === 'DELETE' ? 'delete_application_credential' : 'get_application_credential');
  if (refused) throw refused;
  const record = cloud.appCreds[subId];
  if (!record || record.userId !== id) throw appCredNotFound(subId);
  if (m === 'GET') return { status: 200, json: { application_credential: renderAppCred(cloud, record) } };
  if (m === 'DELETE') {
    delete cloud.appCreds[subId];
    // Keystone revokes every token the credential issued.
    for (const [tid, t] of Object.entries(cloud.state.tokens))
      if (t.appCredId === subId) delete cloud.state.tokens[tid];
    cloud.save();
    return { status: 204 };
  }
  throw new HttpError(405, 'The method is not allowed for the requested URL.');
}
