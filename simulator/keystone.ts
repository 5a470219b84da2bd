// Keystone v3 subset: version discovery, password, application-credential and token authentication, token
// validation and revocation, and the keystonemiddleware check every Nova/Glance request passes through.
// A user's own resources (projects, domain, application credentials) live in keystone-resources.ts.
import { createHash, randomBytes } from 'node:crypto';
import type { Cloud } from './cloud.ts';
import type { Reply, RequestContext } from './http.ts';
import { HttpError, isObject, isoMicro, readJson } from './http.ts';
import { DOMAIN, PROJECTS, ROLES, USERS, projectById, rolesOn, userById, type User } from './identity.ts';
import { userResources } from './keystone-resources.ts';
import type { AppCredRecord, TokenRecord } from './state.ts';

const UNAUTHORIZED = 'The request you have made requires authentication.';
const VERSION_UPDATED = '2023-09-01T00:00:00Z';

export function unauthorized(cloud: Cloud): HttpError {
  const err = new HttpError(401, UNAUTHORIZED, { 'WWW-Authenticate': `Keystone uri="${cloud.authUrl}"` });
  err.dialect = 'identity';
  return err;
}

function versionDoc(cloud: Cloud) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: VERSION_UPDATED,
    links: [{ rel: 'self', href: `${cloud.authUrl}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

export function catalog(cloud: Cloud) {
  const endpoints = (service: string, url: (region: string) => string) =>
    cloud.regions.flatMap((region) =>
      ['public', 'internal'].map((iface) => ({
        id: `${service}-${region}-${iface}`,
        interface: iface,
        region,
        region_id: region,
        url: url(region),
      })),
    );
  return [
    { id: 'identity', name: 'keystone', type: 'identity', endpoints: endpoints('identity', () => cloud.authUrl) },
    { id: 'compute', name: 'nova', type: 'compute', endpoints: endpoints('compute', (r) => cloud.computeUrl(r)) },
    { id: 'image', name: 'glance', type: 'image', endpoints: endpoints('image', (r) => cloud.imageUrl(r)) },
    { id: 'network', name: 'neutron', type: 'network', endpoints: endpoints('network', (r) => cloud.networkUrl(r)) },
  ];
}

/** Keystone answers a bad credential with the generic 401 and hides the detail. */
function authFailed(cloud: Cloud): HttpError {
  return unauthorized(cloud);
}

function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

function matchDomain(d: unknown): boolean {
  if (!isObject(d)) throw badRequest(`Invalid input for field 'domain': expected an object with id or name.`);
  if (d.id !== undefined) return d.id === DOMAIN.id;
  if (d.name !== undefined) return d.name === DOMAIN.name;
  throw badRequest(`Invalid input for field 'domain': id or name is required.`);
}

function findUser(cloud: Cloud, user: unknown, field: string): User {
  if (!isObject(user)) throw badRequest(`Invalid input for field '${field}': expected an object.`);
  let found: User | undefined;
  if (user.id !== undefined) {
    found = typeof user.id === 'string' ? userById(user.id) : undefined;
  } else if (user.name !== undefined) {
    if (user.domain === undefined) throw badRequest('Expecting to find domain in user. The server could not comply.');
    found = matchDomain(user.domain) ? USERS.find((u) => u.name === user.name) : undefined;
  } else {
    throw badRequest('Expecting to find id or name in user. The server could not comply.');
  }
  if (!found) throw authFailed(cloud);
  return found;
}

interface Scope {
  projectId?: string;
  domainScope?: string;
  systemScope?: boolean;
}

function resolveScope(cloud: Cloud, user: User, scope: unknown): Scope {
  if (scope === undefined || scope === 'unscoped') return {};
  if (!isObject(scope)) throw badRequest(`Invalid input for field 'scope': expected an object.`);
  if (isObject(scope.project)) {
    const p = scope.project;
    let projectId: string | undefined;
    if (p.id !== undefined) {
      projectId = typeof p.id === 'string' && projectById(p.id) ? p.id : undefined;
    } else if (p.name !== undefined) {
      if (p.domain === undefined) throw badRequest('Expecting to find domain in project. The server could not comply.');
      if (matchDomain(p.domain)) projectId = Object.values(PROJECTS).find((x) => x.name === p.name)?.id;
    } else throw badRequest('Expecting to find id or name in project. The server could not comply.');
    // Keystone does not say whether the project is unknown or the user merely has no role on it.
    if (projectId === undefined || rolesOn(user, projectId).length === 0) throw authFailed(cloud);
    return { projectId };
  }
  if (isObject(scope.domain)) {
    if (!matchDomain(scope.domain)) throw authFailed(cloud);
    return { domainScope: DOMAIN.id };
  }
  if (isObject(scope.system)) return { systemScope: true };
  throw badRequest(`Invalid input for field 'scope': expected project, domain or system.`);
}

function issue(cloud: Cloud, user: User, methods: string[], scope: Scope, appCred?: AppCredRecord): TokenRecord {
  const now = Date.now();
  const roles =
    appCred !== undefined
      ? appCred.roles
      : scope.projectId !== undefined
        ? rolesOn(user, scope.projectId).map((r) => r.name)
        : scope.domainScope !== undefined || scope.systemScope
          ? [user.role === 'member' ? 'member' : 'reader']
          : [];
  const token: TokenRecord = {
    // Fernet tokens are opaque base64url strings starting gAAAAA; ours look alike but are just random.
    id: `gAAAAA${randomBytes(48).toString('base64url')}`,
    userId: user.id,
    methods,
    roles,
    issuedAt: isoMicro(now),
    expiresAt: isoMicro(now + cloud.knobs.tokenTtlSeconds * 1000),
    auditId: randomBytes(16).toString('base64url').slice(0, 22),
    ...scope,
    ...(appCred !== undefined ? { appCredId: appCred.id } : {}),
  };
  for (const [id, t] of Object.entries(cloud.state.tokens)) {
    if (Date.parse(t.expiresAt) <= now) delete cloud.state.tokens[id];
  }
  cloud.state.tokens[token.id] = token;
  cloud.save();
  return token;
}

/** Role names of a token; tokens saved before roles were recorded get their user's. */
export function tokenRoles(t: TokenRecord): string[] {
  if (t.roles !== undefined) return t.roles;
  const user = userById(t.userId);
  return user && t.projectId !== undefined ? rolesOn(user, t.projectId).map((r) => r.name) : [];
}

function tokenBody(cloud: Cloud, t: TokenRecord, withCatalog: boolean) {
  const user = userById(t.userId)!;
  const body: Record<string, unknown> = {
    methods: t.methods,
    user: { id: user.id, name: user.name, domain: DOMAIN, password_expires_at: null },
    audit_ids: [t.auditId],
    expires_at: t.expiresAt,
    issued_at: t.issuedAt,
  };
  const roles = tokenRoles(t)
    .map((name) => ROLES[name as keyof typeof ROLES])
    .filter((r) => r !== undefined)
    .map((r) => ({ id: r.id, name: r.name }));
  const project = t.projectId === undefined ? undefined : projectById(t.projectId);
  if (project !== undefined) {
    body.project = { id: project.id, name: project.name, domain: DOMAIN };
    body.is_domain = false;
    body.roles = roles;
    if (withCatalog) body.catalog = catalog(cloud);
  } else if (t.domainScope !== undefined) {
    body.domain = DOMAIN;
    body.roles = roles;
    if (withCatalog) body.catalog = catalog(cloud);
  } else if (t.systemScope) {
    body.system = { all: true };
    body.roles = roles;
    if (withCatalog) body.catalog = catalog(cloud);
  }
  if (t.appCredId !== undefined) {
    const ac = cloud.appCreds[t.appCredId];
    body.application_credential = { id: t.appCredId, name: ac?.name ?? t.appCredId, restricted: !ac?.unrestricted };
  }
  return { token: body };
}

/** The token behind X-Auth-Token, or the keystonemiddleware 401. */
export function authenticate(cloud: Cloud, ctx: RequestContext): TokenRecord {
  const header = ctx.req.headers['x-auth-token'];
  const id = Array.isArray(header) ? header[0] : header;
  if (!id) throw unauthorized(cloud);
  const t = cloud.state.tokens[id];
  if (!t || Date.parse(t.expiresAt) <= Date.now()) throw unauthorized(cloud);
  return t;
}

export function secretDigest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function appCredNotFound(id: string): HttpError {
  return new HttpError(404, `Could not find Application Credential: ${id}.`);
}

function appCredToken(cloud: Cloud, ac: unknown, scope: unknown): TokenRecord {
  if (scope !== undefined) {
    throw new HttpError(401, 'Application credentials cannot request a scope.', {
      'WWW-Authenticate': `Keystone uri="${cloud.authUrl}"`,
    });
  }
  if (!isObject(ac)) throw badRequest(`Expecting to find application_credential in identity.`);
  let record: AppCredRecord | undefined;
  if (ac.id !== undefined) {
    record = typeof ac.id === 'string' ? cloud.appCreds[ac.id] : undefined;
    // Keystone looks the credential up before checking anything else: a deleted one is a 404, not a 401.
    if (!record) throw appCredNotFound(String(ac.id));
  } else if (ac.name !== undefined) {
    if (ac.user === undefined) throw badRequest('Expecting to find user in application_credential.');
    const user = findUser(cloud, ac.user, 'application_credential/user');
    record = Object.values(cloud.appCreds).find((r) => r.userId === user.id && r.name === ac.name);
    if (!record) throw appCredNotFound(String(ac.name));
  } else throw badRequest('Expecting to find id or name in application_credential.');
  if (typeof ac.secret !== 'string' || secretDigest(ac.secret) !== record.secretSha256) throw authFailed(cloud);
  if (record.expiresAt !== null && Date.parse(`${record.expiresAt.replace(/Z?$/, '')}Z`) <= Date.now()) {
    throw authFailed(cloud);
  }
  const user = userById(record.userId);
  if (!user) throw authFailed(cloud);
  return issue(cloud, user, ['application_credential'], { projectId: record.projectId }, record);
}

async function createToken(cloud: Cloud, ctx: RequestContext): Promise<Reply> {
  const body = await readJson(ctx.req, 'identity');
  if (!isObject(body) || !isObject(body.auth) || !isObject(body.auth.identity)) {
    throw badRequest(`Invalid input for field 'auth': 'identity' is a required property.`);
  }
  const identity = body.auth.identity;
  const methods = identity.methods;
  if (!Array.isArray(methods) || methods.length === 0) {
    throw badRequest(`Invalid input for field 'identity/methods': expected a non-empty list.`);
  }
  let token: TokenRecord;
  if (methods.includes('application_credential')) {
    token = appCredToken(cloud, identity.application_credential, body.auth.scope);
  } else if (methods.includes('password')) {
    const pw = identity.password;
    if (!isObject(pw)) throw badRequest('Expecting to find password in identity.');
    const user = findUser(cloud, pw.user, 'identity/password/user');
    if (!isObject(pw.user) || pw.user.password !== user.password) throw authFailed(cloud);
    token = issue(cloud, user, ['password'], resolveScope(cloud, user, body.auth.scope));
  } else if (methods.includes('token')) {
    const tk = identity.token;
    const old = isObject(tk) && typeof tk.id === 'string' ? cloud.state.tokens[tk.id] : undefined;
    if (!old || Date.parse(old.expiresAt) <= Date.now()) throw authFailed(cloud);
    const user = userById(old.userId);
    if (!user) throw authFailed(cloud);
    const methods = ['token', ...old.methods.filter((m) => m !== 'token')];
    token = issue(cloud, user, methods, resolveScope(cloud, user, body.auth.scope));
  } else {
    throw new HttpError(401, UNAUTHORIZED, { 'WWW-Authenticate': `Keystone uri="${cloud.authUrl}"` });
  }
  const withCatalog = !ctx.url.searchParams.has('nocatalog');
  return { status: 201, headers: { 'X-Subject-Token': token.id }, json: tokenBody(cloud, token, withCatalog) };
}

function subjectToken(cloud: Cloud, ctx: RequestContext): TokenRecord {
  authenticate(cloud, ctx);
  const header = ctx.req.headers['x-subject-token'];
  const id = Array.isArray(header) ? header[0] : header;
  const t = id === undefined ? undefined : cloud.state.tokens[id];
  if (!t || Date.parse(t.expiresAt) <= Date.now()) {
    throw new HttpError(404, `Could not find token: ${id ?? ''}.`);
  }
  return t;
}

/** Routes under /identity. ctx.path excludes the 'identity' prefix. */
export async function identity(cloud: Cloud, ctx: RequestContext): Promise<Reply> {
  const [v, ...rest] = ctx.path;
  const route = rest.join('/');
  if (v === undefined && ctx.method === 'GET') {
    return { status: 300, json: { versions: { values: [versionDoc(cloud)] } } };
  }
  if (v !== 'v3') throw new HttpError(404, 'The resource could not be found.');
  if (route === '' && ctx.method === 'GET') return { status: 200, json: { version: versionDoc(cloud) } };
  if (route === 'auth/tokens') {
    if (ctx.method === 'POST') return createToken(cloud, ctx);
    if (ctx.method === 'GET' || ctx.method === 'HEAD') {
      const t = subjectToken(cloud, ctx);
      const withCatalog = !ctx.url.searchParams.has('nocatalog');
      return { status: 200, headers: { 'X-Subject-Token': t.id }, json: tokenBody(cloud, t, withCatalog) };
    }
    if (ctx.method === 'DELETE') {
      const t = subjectToken(cloud, ctx);
      delete cloud.state.tokens[t.id];
      cloud.save();
      return { status: 204 };
    }
    throw new HttpError(405, 'The method is not allowed for the requested URL.');
  }
  if (route === 'auth/catalog' && ctx.method === 'GET') {
    const t = authenticate(cloud, ctx);
    if (t.projectId === undefined && t.domainScope === undefined && !t.systemScope) {
      throw new HttpError(403, 'A scoped token is required to list the service catalog.');
    }
    return { status: 200, json: { catalog: catalog(cloud), links: { self: `${cloud.authUrl}/v3/auth/catalog` } } };
  }
  return userResources(cloud, ctx, authenticate(cloud, ctx), rest);
}
