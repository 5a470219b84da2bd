// clouds.yaml resolved the way openstacksdk resolves it, so an operator's existing file works unchanged:
// the same search path, first file wins, secure.yaml deep-merged on top, OS_CLOUD, and OS_* as the `envvars` cloud.
// Only what nodepool needs is interpreted; vendor profiles and Keystone v2 are refused with a clear message.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { Invalid } from '../errors.ts';
import { Secret } from '../secret.ts';
import type { Credentials, Scope } from './keystone.ts';

export interface CloudConfig {
  name: string;
  /** Keystone v3 root, always ending in /v3. */
  authUrl: string;
  credentials: Credentials;
  regionName?: string;
  /** Endpoint interface per service type: public, internal or admin. */
  interfaces: { compute: string; image: string; network: string };
  /** `<service>_endpoint_override` values, used instead of the catalog. */
  endpointOverrides: { compute?: string; image?: string; network?: string };
  /** Upload format the cloud wants (`image_format`, default qcow2). */
  imageFormat: string;
  /**
   * `image_api_use_import: true`: upload through Glance's interoperable import (glance-direct) always. Otherwise
   * the direct upload is tried first and import used only when the cloud refuses it and offers glance-direct.
   */
  imageUseImport: boolean;
  /** Where the settings came from, for messages: never contains values. */
  source: { configFile?: string; secureFile?: string; fromEnvironment: boolean };
}

export interface CloudsYamlOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
  /**
   * Site-wide directories (default: $XDG_CONFIG_DIRS' first entry + /openstack, then /etc/openstack).
   * Tests pass [] so the machine's own files cannot change their outcome.
   */
  siteDirs?: string[];
  /** Region to use instead of the cloud's region_name. */
  region?: string;
}

type Dict = Record<string, unknown>;

const CONFIG_NAMES = ['clouds.yaml', 'clouds.yml', 'clouds.json'];
const SECURE_NAMES = ['secure.yaml', 'secure.yml', 'secure.json'];
/** OS_* variables that choose a cloud rather than describe one: alone they make no `envvars` cloud. */
const SELECTOR_VARS = new Set([
  'OS_CLOUD',
  'OS_REGION_NAME',
  'OS_CLIENT_CONFIG_FILE',
  'OS_CLIENT_SECURE_FILE',
  'OS_CLOUD_NAME',
]);
/** Keys that belong inside `auth:` even when written at the top level (as OS_* variables always are). */
const AUTH_KEYS = [
  'auth_url',
  'username',
  'user_id',
  'password',
  'user_domain_name',
  'user_domain_id',
  'project_name',
  'project_id',
  'project_domain_name',
  'project_domain_id',
  'domain_name',
  'domain_id',
  'application_credential_id',
  'application_credential_name',
  'application_credential_secret',
  'token',
  'system_scope',
];
/** For these, a top-level value beats the one inside `auth` (openstacksdk's rule); for the rest `auth` wins. */
const TOP_LEVEL_WINS = new Set([
  'project_name',
  'project_id',
  'project_domain_name',
  'project_domain_id',
  'user_domain_name',
  'user_domain_id',
  'domain_name',
  'domain_id',
  'token',
]);

/** Directories searched for clouds.yaml and secure.yaml, in order. */
export function searchDirs(opts: CloudsYamlOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const home = opts.home ?? homedir();
  const xdgHome = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
  const xdgSite = (env.XDG_CONFIG_DIRS ?? '').split(':').find((d) => isAbsolute(d)) ?? '/etc/xdg';
  const site = opts.siteDirs ?? [join(xdgSite, 'openstack'), '/etc/openstack'];
  const dirs = [opts.cwd ?? process.cwd(), join(xdgHome, 'openstack'), join(home, '.config', 'openstack'), ...site];
  return [...new Set(dirs)];
}

/** Every file that would be tried for clouds.yaml, in order; OS_CLIENT_CONFIG_FILE first. */
export function configFileCandidates(opts: CloudsYamlOptions = {}): string[] {
  return candidates(opts, 'OS_CLIENT_CONFIG_FILE', CONFIG_NAMES);
}

export function secureFileCandidates(opts: CloudsYamlOptions = {}): string[] {
  return candidates(opts, 'OS_CLIENT_SECURE_FILE', SECURE_NAMES);
}

function candidates(opts: CloudsYamlOptions, envVar: string, names: string[]): string[] {
  const env = opts.env ?? process.env;
  const files = searchDirs(opts).flatMap((d) => names.map((n) => join(d, n)));
  const explicit = env[envVar];
  if (explicit) files.unshift(resolve(opts.cwd ?? process.cwd(), explicit));
  return [...new Set(files)];
}

interface Loaded {
  file?: string;
  data: Dict;
  skipped: string[];
}

// Parsed files by path, kept while the file's text stays the same: every cloud call resolves its cloud again
// (that is how a rotated credential is noticed), and parsing YAML each time cost more CPU than the calls
// themselves at a few hundred calls a second. Reading is cheap; a file's mtime can miss a quick rewrite.
const parsed = new Map<string, { text: string; data: Dict | null }>();

/** First readable, parseable file wins; the rest are never read (no merging across files). */
function loadFirst(files: string[]): Loaded {
  const skipped: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') skipped.push(`${file} (${code ?? 'unreadable'})`);
      continue;
    }
    const cached = parsed.get(file);
    // A copy: resolving a cloud fixes up its mappings in place.
    if (cached?.text === text) return { file, data: structuredClone(cached.data) ?? {}, skipped };
    try {
      const data: unknown = parse(text);
      if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data)))
        throw new Error('top level is not a mapping');
      const dict = (data ?? null) as Dict | null;
      parsed.set(file, { text, data: structuredClone(dict) });
      return { file, data: dict ?? {}, skipped };
    } catch (err) {
      skipped.push(`${file} (not valid YAML/JSON: ${(err as Error).message.split('\n')[0]})`);
    }
  }
  return { data: {}, skipped };
}

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Secure values win; nested mappings merge key by key. */
export function deepMerge(base: Dict, over: Dict): Dict {
  const out: Dict = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isDict(b) && isDict(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** OS_* variables as a cloud entry, or undefined when none describe a cloud. */
export function environmentCloud(env: NodeJS.ProcessEnv): Dict | undefined {
  const keys = Object.keys(env).filter(
    (k) => k.startsWith('OS_') && !k.startsWith('OS_TEST') && !k.startsWith('OS_STD') && !k.startsWith('OS_LOG'),
  );
  if (!keys.some((k) => !SELECTOR_VARS.has(k))) return undefined;
  const cloud: Dict = {};
  for (const k of keys) {
    if (k === 'OS_CLOUD' || k === 'OS_CLOUD_NAME' || k === 'OS_CLIENT_CONFIG_FILE' || k === 'OS_CLIENT_SECURE_FILE')
      continue;
    cloud[k.slice(3).toLowerCase()] = env[k];
  }
  return cloud;
}

function normaliseKeys(d: Dict): Dict {
  const out: Dict = {};
  for (const [k, v] of Object.entries(d)) out[k.replace(/-/g, '_')] = v;
  return out;
}

function fail(message: string): never {
  throw new Invalid(message, { operation: 'clouds.yaml' });
}

/**
 * Resolves one cloud: `name`, else $OS_CLOUD, else the `envvars` cloud, else the file's only cloud.
 * Errors name the cloud, the files searched and what to change; they never contain credential values.
 */
export function loadCloudConfig(name?: string, opts: CloudsYamlOptions = {}): CloudConfig {
  const env = opts.env ?? process.env;
  const configFiles = configFileCandidates(opts);
  const config = loadFirst(configFiles);
  const secure = loadFirst(secureFileCandidates(opts));
  const merged = deepMerge(config.data, secure.data);
  const clouds: Dict = isDict(merged.clouds) ? { ...merged.clouds } : {};

  const envName = env.OS_CLOUD_NAME || 'envvars';
  const fromEnv = environmentCloud(env);
  if (fromEnv) clouds[envName] = fromEnv;

  let chosen = name || env.OS_CLOUD || undefined;
  if (!chosen && fromEnv) chosen = envName;
  const names = Object.keys(clouds);
  if (!chosen && names.length === 1) chosen = names[0];

  const searched = () =>
    `Files searched, in order: ${configFiles.join(', ')}` +
    (config.skipped.length ? `. Skipped: ${config.skipped.join('; ')}` : '') +
    (config.file ? `. Used: ${config.file}` : '. None of them exists') +
    // A secure.yaml that could not be read may be exactly where the missing cloud or password is.
    (secure.skipped.length ? `. Skipped secure file: ${secure.skipped.join('; ')}` : '') +
    `. Clouds found: ${names.length ? names.join(', ') : 'none'}.`;
  if (!chosen) {
    fail(`No cloud named and none can be chosen: set the provider's cloud name or OS_CLOUD. ${searched()}`);
  }
  const entry = clouds[chosen];
  if (!isDict(entry)) fail(`Cloud ${chosen} was not found. ${searched()}`);

  const isEnvCloud = fromEnv !== undefined && chosen === envName;
  try {
    return buildCloud(chosen, entry, opts, {
      configFile: isEnvCloud ? undefined : config.file,
      secureFile: isEnvCloud ? undefined : secure.file,
      fromEnvironment: isEnvCloud,
    });
  } catch (err) {
    // A password or secret that "is missing" may sit in a secure.yaml we could not read: say so.
    if (err instanceof Invalid && secure.skipped.length > 0 && !isEnvCloud) {
      fail(`${err.message}. Skipped secure file: ${secure.skipped.join('; ')}`);
    }
    throw err;
  }
}

function buildCloud(name: string, raw: Dict, opts: CloudsYamlOptions, source: CloudConfig['source']): CloudConfig {
  const where = source.configFile ? `cloud ${name} in ${source.configFile}` : `cloud ${name} (from OS_* variables)`;
  let c = normaliseKeys(raw);
  if (c.profile !== undefined || c.cloud !== undefined) {
    fail(
      `${where} uses a vendor profile, which nodepool does not read; write auth_url, region_name and image_format into the entry`,
    );
  }
  if (c.auth_plugin !== undefined && c.auth_type === undefined) c.auth_type = c.auth_plugin;
  for (const k of Object.keys(c)) {
    if (k.endsWith('endpoint_type')) c[k.replace(/endpoint_type$/, 'interface')] ??= c[k];
  }

  // Regions: pick one, then let its `values` override the cloud's.
  const regions = Array.isArray(c.regions) ? c.regions.map((r) => (isDict(r) ? r : { name: String(r) })) : [];
  const regionName =
    opts.region ??
    (typeof c.region_name === 'string' && c.region_name ? c.region_name : undefined) ??
    (regions[0]?.name as string | undefined);
  if (regions.length > 0 && regionName !== undefined) {
    const region = regions.find((r) => r.name === regionName);
    if (!region) {
      fail(
        `Region ${regionName} is not a valid region name for ${where}; valid choices: ${regions.map((r) => r.name).join(', ')}`,
      );
    }
    if (isDict(region.values)) c = deepMerge(c, normaliseKeys(region.values));
  }

  const auth = fixAuth(c);
  const version = c.identity_api_version === undefined ? undefined : String(c.identity_api_version);
  if (version !== undefined && !version.startsWith('3')) {
    fail(`${where} sets identity_api_version ${version}; nodepool speaks Keystone v3 only`);
  }
  const authUrl = str(auth.auth_url) ?? fail(`${where} has no auth_url (set auth.auth_url or OS_AUTH_URL)`);
  if (c.verify === false || c.insecure === true || c.insecure === 'true') {
    fail(
      `${where} disables TLS verification, which nodepool refuses; trust the cloud's CA with NODE_EXTRA_CA_CERTS instead`,
    );
  }
  if (c.cacert !== undefined && !(opts.env ?? process.env).NODE_EXTRA_CA_CERTS) {
    fail(`${where} sets cacert; start the nodepool worker with NODE_EXTRA_CA_CERTS=${String(c.cacert)} instead`);
  }

  const iface = str(c.interface) ?? 'public';
  const cloud: CloudConfig = {
    name,
    authUrl: v3Url(authUrl, where),
    credentials: credentials(c, auth, where),
    interfaces: {
      compute: str(c.compute_interface) ?? iface,
      image: str(c.image_interface) ?? iface,
      network: str(c.network_interface) ?? iface,
    },
    endpointOverrides: {},
    imageFormat: str(c.image_format) ?? 'qcow2',
    imageUseImport: bool(c.image_api_use_import, `${where}: image_api_use_import`),
    source,
  };
  if (regionName !== undefined) cloud.regionName = regionName;
  const computeOverride = str(c.compute_endpoint_override);
  const imageOverride = str(c.image_endpoint_override);
  const networkOverride = str(c.network_endpoint_override);
  // Trailing slashes would double up with the paths the driver appends (…/v2.1//servers).
  if (computeOverride) cloud.endpointOverrides.compute = computeOverride.replace(/\/+$/, '');
  if (imageOverride) cloud.endpointOverrides.image = imageOverride.replace(/\/+$/, '');
  if (networkOverride) cloud.endpointOverrides.network = networkOverride.replace(/\/+$/, '');
  return cloud;
}

/** YAML booleans, and the strings OS_* variables carry. */
function bool(v: unknown, where: string): boolean {
  if (v === undefined || v === null || v === false || v === 'false' || v === 'False' || v === '0') return false;
  if (v === true || v === 'true' || v === 'True' || v === '1') return true;
  return fail(`${where} must be true or false, not ${JSON.stringify(v)}`);
}

function str(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** Applies openstacksdk's auth fix-ups and returns the effective `auth` mapping. */
function fixAuth(c: Dict): Dict {
  const auth: Dict = isDict(c.auth) ? normaliseKeys(c.auth) : {};
  for (const d of [c, auth]) {
    for (const k of Object.keys(d)) {
      if (k.startsWith('tenant_')) d[k.replace(/^tenant_/, 'project_')] ??= d[k];
    }
  }
  for (const k of AUTH_KEYS) {
    if (c[k] === undefined || c[k] === '') continue;
    if (TOP_LEVEL_WINS.has(k) || auth[k] === undefined) auth[k] = c[k];
  }
  // domain_* stands for both user and project domain when the cloud is project-scoped.
  if (auth.project_name !== undefined || auth.project_id !== undefined) {
    for (const suffix of ['name', 'id']) {
      const v = auth[`domain_${suffix}`];
      if (v === undefined) continue;
      auth[`user_domain_${suffix}`] ??= v;
      auth[`project_domain_${suffix}`] ??= v;
      delete auth[`domain_${suffix}`];
    }
  }
  return auth;
}

function v3Url(url: string, where: string): string {
  const trimmed = url.replace(/\/+$/, '');
  if (/\/v3$/.test(trimmed)) return trimmed;
  if (/\/v2(\.0)?$/.test(trimmed)) fail(`${where} has a Keystone v2.0 auth_url; nodepool speaks Keystone v3 only`);
  return `${trimmed}/v3`;
}

function credentials(c: Dict, a: Dict, where: string): Credentials {
  const explicit = str(c.auth_type);
  const type =
    explicit ??
    (a.application_credential_secret !== undefined && a.password === undefined
      ? 'v3applicationcredential'
      : 'password');
  const user = {
    ...(str(a.user_id) ? { userId: str(a.user_id) } : {}),
    ...(str(a.username) ? { username: str(a.username) } : {}),
    ...(str(a.user_domain_id) ? { userDomainId: str(a.user_domain_id) } : {}),
    ...(str(a.user_domain_name) ? { userDomainName: str(a.user_domain_name) } : {}),
  };
  if (type === 'password' || type === 'v3password') {
    const password =
      str(a.password) ?? fail(`${where} has no password (set auth.password in clouds.yaml or secure.yaml)`);
    if (!user.userId && !user.username) fail(`${where} has neither username nor user_id`);
    return { kind: 'password', password: new Secret(password), scope: scope(a, where), ...user };
  }
  if (type === 'v3applicationcredential' || type === 'application_credential') {
    const secret = str(a.application_credential_secret) ?? fail(`${where} has no application_credential_secret`);
    const id = str(a.application_credential_id);
    const name = str(a.application_credential_name);
    if (!id && !(name && (user.userId || user.username))) {
      fail(`${where} needs application_credential_id, or application_credential_name with username or user_id`);
    }
    return { kind: 'application_credential', secret: new Secret(secret), ...(id ? { id } : { name }), ...user };
  }
  return fail(`${where} has auth_type ${type}; nodepool supports password, v3password and v3applicationcredential`);
}

function scope(a: Dict, where: string): Scope {
  const projectId = str(a.project_id);
  if (projectId) return { projectId };
  const projectName = str(a.project_name);
  if (projectName) {
    const s: Scope = { projectName };
    const domainId = str(a.project_domain_id);
    const domainName = str(a.project_domain_name);
    if (domainId) s.projectDomainId = domainId;
    else if (domainName) s.projectDomainName = domainName;
    return s;
  }
  const domainId = str(a.domain_id);
  if (domainId) return { domainId };
  const domainName = str(a.domain_name);
  if (domainName) return { domainName };
  if (a.system_scope === 'all') return { system: true };
  // An unscoped token has no catalog, so nodepool could not find Nova or Glance with it.
  return fail(`${where} names no project (set auth.project_name or auth.project_id)`);
}
