// Keystone v3 tokens: password or application-credential auth, one cached token per session, renewed before
// it expires or when a service answers 401, and the service catalog that tells where Nova and Glance live.
import { Invalid, NotFound, Transient } from '../errors.ts';
import type { Secret } from '../secret.ts';
import type { HttpClient } from './http.ts';

export type Scope =
  | { projectId: string }
  | { projectName: string; projectDomainId?: string; projectDomainName?: string }
  | { domainId: string }
  | { domainName: string }
  | { system: true };

/** How the user is named: by ID, or by name within a domain. */
export interface UserRef {
  userId?: string;
  username?: string;
  userDomainId?: string;
  userDomainName?: string;
}

export type Credentials =
  | ({ kind: 'password'; password: Secret; scope?: Scope } & UserRef)
  | ({ kind: 'application_credential'; id?: string; name?: string; secret: Secret } & UserRef);

export interface Endpoint {
  interface: string;
  region?: string;
  region_id?: string;
  url: string;
}

export interface CatalogEntry {
  type: string;
  name?: string;
  endpoints: Endpoint[];
}

export interface KeystoneOptions {
  /** Keystone v3 root, e.g. https://keystone.example.com/v3 */
  authUrl: string;
  credentials: Credentials;
  http: HttpClient;
  /** Injected for tests of clock skew; defaults to Date.now. */
  now?: () => number;
}

interface Token {
  value: string;
  /** Epoch ms after which we stop using it; Infinity when Keystone says it never expires. */
  renewAt: number;
  catalog: CatalogEntry[];
}

export class KeystoneSession {
  readonly #opts: KeystoneOptions;
  #token: Token | undefined;
  #pending: Promise<Token> | undefined;
  /** How many tokens this session has fetched; lets tests and metrics see re-authentication. */
  authCount = 0;

  constructor(opts: KeystoneOptions) {
    this.#opts = opts;
  }

  /** The current token value, for redaction only. */
  currentToken(): string | undefined {
    return this.#token?.value;
  }

  async token(): Promise<string> {
    return (await this.#valid()).value;
  }

  /** Forget `value` if it is still the cached token (a service just rejected it). */
  invalidate(value: string): void {
    if (this.#token?.value === value) this.#token = undefined;
  }

  /** URL of the `type` service for `iface` in `region` (any region when none is configured). */
  async endpoint(type: string, iface: string, region: string | undefined): Promise<string> {
    const { catalog } = await this.#valid();
    const services = catalog.filter((s) => s.type === type);
    if (services.length === 0) {
      const types = [...new Set(catalog.map((s) => s.type))].sort().join(', ');
      throw new Invalid(`the service catalog has no '${type}' service (it lists: ${types || 'nothing'})`, {
        operation: 'auth',
      });
    }
    const candidates = services.flatMap((s) => s.endpoints).filter((e) => e.interface === iface);
    const match = candidates.find((e) => region === undefined || (e.region_id ?? e.region) === region);
    if (!match) {
      const seen = candidates.map((e) => e.region_id ?? e.region ?? '(none)').join(', ');
      throw new Invalid(
        `no ${iface} '${type}' endpoint in region ${region ?? '(any)'}; the catalog has regions: ${seen || 'none'}. ` +
          `Set region_name (or interface) for this cloud in clouds.yaml.`,
        { operation: 'auth' },
      );
    }
    return match.url.replace(/\/+$/, '');
  }

  async #valid(): Promise<Token> {
    const now = (this.#opts.now ?? Date.now)();
    if (this.#token && now < this.#token.renewAt) return this.#token;
    // One authentication at a time; concurrent callers share it.
    this.#pending ??= this.#authenticate().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #authenticate(): Promise<Token> {
    const http = this.#opts.http;
    // The token's age is counted from before we asked: never later than Keystone's issued_at.
    const sentAt = (this.#opts.now ?? Date.now)();
    const res = await http
      .request({
        operation: 'auth',
        method: 'POST',
        url: `${this.#opts.authUrl.replace(/\/+$/, '')}/auth/tokens`,
        json: authBody(this.#opts.credentials),
      })
      .catch((err: unknown) => {
        if (err instanceof Invalid && (err.status === 401 || err.status === 403 || err.status === 400)) {
          throw new Invalid(
            `Keystone at ${this.#opts.authUrl} refused the credentials (HTTP ${err.status}); ` +
              `check the username/password or application credential for this cloud in clouds.yaml`,
            { operation: 'auth', status: err.status },
          );
        }
        if (err instanceof NotFound) {
          // Keystone looks an application credential up before checking it: a deleted or revoked one is a 404.
          // Retrying cannot bring it back, so it is refused credentials, not a missing resource.
          if (/application credential/i.test(err.message)) {
            throw new Invalid(
              `Keystone at ${this.#opts.authUrl} does not know this application credential (HTTP 404: deleted, ` +
                `revoked or never created); create a new one and put its id and secret for this cloud in clouds.yaml`,
              { operation: 'auth', status: err.status },
            );
          }
          throw new Invalid(
            `no Keystone v3 token API at ${this.#opts.authUrl}/auth/tokens (HTTP 404); check auth_url for this ` +
              `cloud in clouds.yaml`,
            { operation: 'auth', status: err.status },
          );
        }
        throw err;
      });
    const value = res.headers.get('x-subject-token');
    const body = res.body as { token?: { expires_at?: string | null; issued_at?: string; catalog?: CatalogEntry[] } };
    if (!value || !body?.token) {
      throw new Transient('Keystone answered without a token (no X-Subject-Token header or token body)', {
        operation: 'auth',
        status: res.status,
      });
    }
    this.authCount += 1;
    const token: Token = { value, renewAt: renewAt(body.token, sentAt), catalog: body.token.catalog ?? [] };
    this.#token = token;
    return token;
  }
}

/**
 * When to stop using a token, by the local clock: its lifetime (Keystone's expires_at minus its issued_at, both
 * Keystone's clock) counted from when we received it, less a tenth of the lifetime (at most a minute) so
 * short-lived tokens (and the simulator's 1-second ones) still get used. Comparing the local clock with Keystone's
 * absolute expires_at would renew on every call once the worker's clock runs ahead of Keystone's.
 */
function renewAt(token: { expires_at?: string | null; issued_at?: string }, now: number): number {
  if (token.expires_at === null || token.expires_at === undefined) return Infinity;
  const expires = Date.parse(token.expires_at);
  if (Number.isNaN(expires)) return now;
  const issued = token.issued_at ? Date.parse(token.issued_at) : NaN;
  // Without issued_at there is no lifetime to measure, only Keystone's absolute time to compare with.
  const lifetime = Math.max(0, Number.isNaN(issued) ? expires - now : expires - issued);
  return now + lifetime - Math.min(60_000, lifetime / 10);
}

function userBody(u: UserRef): Record<string, unknown> {
  if (u.userId) return { id: u.userId };
  const domain = u.userDomainId ? { id: u.userDomainId } : { name: u.userDomainName ?? 'Default' };
  return { name: u.username, domain };
}

function scopeBody(scope: Scope | undefined): Record<string, unknown> | undefined {
  if (!scope) return undefined;
  if ('projectId' in scope) return { project: { id: scope.projectId } };
  if ('projectName' in scope) {
    const domain = scope.projectDomainId
      ? { id: scope.projectDomainId }
      : { name: scope.projectDomainName ?? 'Default' };
    return { project: { name: scope.projectName, domain } };
  }
  if ('domainId' in scope) return { domain: { id: scope.domainId } };
  if ('domainName' in scope) return { domain: { name: scope.domainName } };
  return { system: { all: true } };
}

export function authBody(c: Credentials): unknown {
  if (c.kind === 'password') {
    const scope = scopeBody(c.scope);
    return {
      auth: {
        identity: { methods: ['password'], password: { user: { ...userBody(c), password: c.password.reveal() } } },
        ...(scope ? { scope } : {}),
      },
    };
  }
  // An application credential carries its own scope; Keystone rejects one sent alongside it.
  const cred: Record<string, unknown> = c.id
    ? { id: c.id, secret: c.secret.reveal() }
    : { name: c.name, secret: c.secret.reveal(), user: userBody(c) };
  return { auth: { identity: { methods: ['application_credential'], application_credential: cred } } };
}
