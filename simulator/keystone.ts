// Keystone v3 subset: version discovery, password and application-credential authentication, token
// validation and revocation, and the keystonemiddleware check every Nova/Glance request passes through.
import { randomBytes } from 'node:crypto';
import type { Cloud } from './cloud.ts';
import { APP_CRED, DOMAIN, PROJECT, ROLE, USER } from './cloud.ts';
import type { Reply, RequestContext } from './http.ts';
import { HttpError, isObject, isoMicro, readJson } from './http.ts';
import type { TokenRecord } from './state.ts';

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
  ];
}

/** Keystone answers a bad credential with the generic 401 and hides the detail. */
function authFailed(cloud: Cloud): HttpError {
  return unauthorized(cloud);
}

function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

function matchDomain(cloud: Cloud, d: unknown): boolean {
  if (!isObject(d)) throw badRequest(`Invalid input for field 'domain': expected an object with id or name.`);
  if (d.id !== undefined) return d.id === DOMAIN.id;
  if (d.name !== undefined) return d.name === DOMAIN.name;
  throw badRequest(`Invalid input for field 'domain': id or name is required.`);
}

function checkUser(cloud: Cloud, user: unknown): void {
  if (!isObject(user)) throw badRequest(`Invalid input for field 'identity/password/user': expected an object.`);
  if (user.id !== undefined) {
    if (user.id !== USER.id) throw authFailed(cloud);
  } else if (user.name !== undefined) {
    if (user.domain === undefined) throw badRequest('Expecting to find domain in user. The server could not comply.');
    if (user.name !== USER.name || !matchDomain(cloud, user.domain)) throw authFailed(cloud);
  } else {
    throw badRequest('Expecting to find id or name in user. The server could not comply.');
  }
}

interface Scope {
  projectId?: string;
  domainScope?: string;
  systemScope?: boolean;
}

function resolveScope(cloud: Cloud, scope: unknown): Scope {
  if (scope === undefined || scope === 'unscoped') return {};
  if (!isObject(scope)) throw badRequest(`Invalid input for field 'scope': expected an object.`);
  if (isObject(scope.project)) {
    const p = scope.project;
    if (p.id !== undefined) {
      if (p.id !== PROJECT.id) throw authFailed(cloud);
    } else if (p.name !== undefined) {
      if (p.domain === undefined) throw badRequest('Expecting to find domain in project. The server could not comply.');
      if (p.name !== PROJECT.name || !matchDomain(cloud, p.domain)) throw authFailed(cloud);
    } else throw badRequest('Expecting to find id or name in project. The server could not comply.');
    return { projectId: PROJECT.id };
  }
  if (isObject(scope.domain)) {
    if (!matchDomain(cloud, scope.domain)) throw authFailed(cloud);
    return { domainScope: DOMAIN.id };
  }
  if (isObject(scope.system)) return { systemScope: true };
  throw badRequest(`Invalid input for field 'scope': expected project, domain or system.`);
}

function issue(cloud: Cloud, methods: string[], scope: Scope, appCredId?: string): TokenRecord {
  const now = Date.now();
  const token: TokenRecord = {
    // Fernet tokens are opaque base64url strings starting gAAAAA; ours look alike but are just random.
    id: `gAAAAA${randomBytes(48).toString('base64url')}`,
    userId: USER.id,
    methods,
    issuedAt: isoMicro(now),
    expiresAt: isoMicro(now + cloud.knobs.tokenTtlSeconds * 1000),
    auditId: randomBytes(16).toString('base64url').slice(0, 22),
    ...scope,
    ...(appCredId !== undefined ? { appCredId } : {}),
  };
  for (const [id, t] of Object.entries(cloud.state.tokens)) {
    if (Date.parse(t.expiresAt) <= now) delete cloud.state.tokens[id];
  }
  cloud.state.tokens[token.id] = token;
  cloud.save();
  return token;
}

function tokenBody(cloud: Cloud, t: TokenRecord, withCatalog: boolean) {
  const body: Record<string, unknown> = {
    methods: t.methods,
    user: { id: USER.id, name: USER.name, domain: DOMAIN, password_expires_at: null },
    audit_ids: [t.auditId],
    expires_at: t.expiresAt,
    issued_at: t.issuedAt,
  };
  if (t.projectId !== undefined) {
    body.project = { id: PROJECT.id, name: PROJECT.name, domain: DOMAIN };
    body.is_domain = false;
    body.roles = [ROLE];
    if (withCatalog) body.catalog = catalog(cloud);
  } else if (t.domainScope !== undefined) {
    body.domain = DOMAIN;
    body.roles = [ROLE];
    if (withCatalog) body.catalog = catalog(cloud);
  } else if (t.systemScope) {
    body.system = { all: true };
    body.roles = [ROLE];
    if (withCatalog) body.catalog = catalog(cloud);
  }
  if (t.appCredId !== undefined)
    body.application_credential = { id: APP_CRED.id, name: APP_CRED.name, restricted: true };
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
    if (body.auth.scope !== undefined) {
      throw new HttpError(401, 'Application credentials cannot request a scope.', {
        'WWW-Authenticate': `Keystone uri="${cloud.authUrl}"`,
      });
    }
    const ac = identity.application_credential;
    if (!isObject(ac)) throw badRequest(`Expecting to find application_credential in identity.`);
    if (ac.id !== undefined) {
      if (ac.id !== APP_CRED.id) throw authFailed(cloud);
    } else if (ac.name !== undefined) {
      if (ac.name !== APP_CRED.name || ac.user === undefined) throw authFailed(cloud);
      checkUser(cloud, ac.user);
    } else throw badRequest('Expecting to find id or name in application_credential.');
    if (ac.secret !== APP_CRED.secret) throw authFailed(cloud);
    token = issue(cloud, ['application_credential'], { projectId: PROJECT.id }, APP_CRED.id);
  } else if (methods.includes('password')) {
    const pw = identity.password;
    if (!isObject(pw)) throw badRequest('Expecting to find password in identity.');
    checkUser(cloud, pw.user);
    if (!isObject(pw.user) || pw.user.password !== USER.password) throw authFailed(cloud);
    token = issue(cloud, ['password'], resolveScope(cloud, body.auth.scope));
  } else if (methods.includes('token')) {
    const tk = identity.token;
    const old = isObject(tk) && typeof tk.id === 'string' ? cloud.state.tokens[tk.id] : undefined;
    if (!old || Date.parse(old.expiresAt) <= Date.now()) throw authFailed(cloud);
    token = issue(cloud, ['token', ...old.methods.filter((m) => m !== 'token')], resolveScope(cloud, body.auth.scope));
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
  throw new HttpError(404, 'The resource could not be found.');
}
