// How the worker and the CLI reach Temporal, with the `temporal` CLI's conventions so an operator's existing
// settings work unchanged: the same flags (--address, --namespace, --api-key, --tls, --tls-cert-path, ...), the
// same TEMPORAL_* environment variables (read by Temporal's own @temporalio/envconfig), and nodepool.yaml's
// `temporal:` section in the place of the CLI's config file. A flag beats the environment, which beats the file.
import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';
import type { ClientConfigProfile, ConfigDataSource } from '@temporalio/envconfig';
import type { Config } from '../config/index.ts';
import type { TemporalFlagName, TemporalFlags } from './connection-flags.ts';

export { TEMPORAL_FLAGS, type TemporalFlagName, type TemporalFlags } from './connection-flags.ts';

/** What a connection is made from, and where each part came from (printed at start, so a log tells). */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  profile: ClientConfigProfile;
  /** How the connection is secured, for logs: `plaintext`, `TLS`, `mTLS`, plus `API key`. */
  security: string;
}

/** An operator's mistake in the connection settings: printed as one line, no stack. */
export class ConnectionSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionSettingsError';
  }
}

// Names the temporal CLI used before its config-file support (1.0 to 1.3); still accepted where the new one is unset.
const LEGACY_ENV: Record<string, string> = {
  TEMPORAL_TLS_CERT: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  TEMPORAL_TLS_KEY: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  TEMPORAL_TLS_CA: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  TEMPORAL_TLS_CERT_DATA: 'TEMPORAL_TLS_CLIENT_CERT_DATA',
  TEMPORAL_TLS_KEY_DATA: 'TEMPORAL_TLS_CLIENT_KEY_DATA',
  TEMPORAL_TLS_CA_DATA: 'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
};

function envProfile(env: NodeJS.ProcessEnv): ClientConfigProfile {
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '' && k.startsWith('TEMPORAL_')) vars[k] = v;
  for (const [old, current] of Object.entries(LEGACY_ENV))
    if (vars[old] !== undefined && vars[current] === undefined) vars[current] = vars[old];
  // The CLI's config file (temporal.toml) is not read: nodepool.yaml's temporal section is ours.
  return loadClientConfigProfile({ disableFile: true, overrideEnvVars: vars });
}

function source(path: unknown, data: unknown): ConfigDataSource | undefined {
  if (typeof data === 'string' && data !== '') return { data };
  if (typeof path === 'string' && path !== '') return { path };
  return undefined;
}

function flagsProfile(flags: TemporalFlags): ClientConfigProfile {
  const s = (k: TemporalFlagName): string | undefined => {
    const v = flags[k];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const clientCert = source(flags['tls-cert-path'], flags['tls-cert-data']);
  const clientKey = source(flags['tls-key-path'], flags['tls-key-data']);
  const serverCACert = source(flags['tls-ca-path'], flags['tls-ca-data']);
  const tls = {
    ...(typeof flags.tls === 'boolean' ? { disabled: !flags.tls } : {}),
    ...(clientCert ? { clientCert } : {}),
    ...(clientKey ? { clientKey } : {}),
    ...(serverCACert ? { serverCACert } : {}),
    ...(s('tls-server-name') ? { serverName: s('tls-server-name') } : {}),
  };
  return {
    ...(s('address') ? { address: s('address') } : {}),
    ...(s('namespace') ? { namespace: s('namespace') } : {}),
    ...(s('api-key') ? { apiKey: s('api-key') } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

function fileProfile(config: Config | undefined): ClientConfigProfile {
  const t = config?.temporal;
  if (!t) return {};
  const clientCert = source(t.tlsCertPath, undefined);
  const clientKey = source(t.tlsKeyPath, undefined);
  const serverCACert = source(t.tlsCaPath, undefined);
  const tls = {
    ...(typeof t.tls === 'boolean' ? { disabled: !t.tls } : {}),
    ...(clientCert ? { clientCert } : {}),
    ...(clientKey ? { clientKey } : {}),
    ...(serverCACert ? { serverCACert } : {}),
    ...(t.tlsServerName ? { serverName: t.tlsServerName } : {}),
  };
  return {
    address: t.address,
    namespace: t.namespace,
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
  };
}

/** Later profiles win, field by field (a CA from the environment keeps the file's client certificate). */
function overlay(...profiles: ClientConfigProfile[]): ClientConfigProfile {
  const out: ClientConfigProfile = {};
  for (const p of profiles) {
    if (p.address) out.address = p.address;
    if (p.namespace) out.namespace = p.namespace;
    if (p.apiKey) out.apiKey = p.apiKey;
    if (p.grpcMeta) out.grpcMeta = { ...out.grpcMeta, ...p.grpcMeta };
    if (p.tls) out.tls = { ...out.tls, ...p.tls };
  }
  return out;
}

/**
 * The effective settings: flags, then TEMPORAL_* variables, then nodepool.yaml, then the defaults
 * (localhost:7233, namespace default). NODEPOOL_TASK_QUEUE overrides temporal.task-queue.
 */
export function resolveTemporalSettings(
  config: Config | undefined,
  env: NodeJS.ProcessEnv = process.env,
  flags: TemporalFlags = {},
): TemporalSettings {
  const profile = overlay(
    { address: 'localhost:7233', namespace: 'default' },
    fileProfile(config),
    envProfile(env),
    flagsProfile(flags),
  );
  const tls = profile.tls;
  if (/^(1|true|yes|on)$/i.test(env.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION ?? ''))
    throw new ConnectionSettingsError(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported by the Temporal TypeScript SDK; ' +
        "give the name on the server's certificate with --tls-server-name or TEMPORAL_TLS_SERVER_NAME instead",
    );
  if (Boolean(tls?.clientCert) !== Boolean(tls?.clientKey))
    throw new ConnectionSettingsError(
      `a TLS client ${tls?.clientCert ? 'certificate' : 'key'} is given without its ${tls?.clientCert ? 'key' : 'certificate'}; ` +
        'mTLS needs both (--tls-cert-path and --tls-key-path, or TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)',
    );
  const tlsOn = tls ? tls.disabled !== true : profile.apiKey !== undefined;
  if (!tlsOn && profile.apiKey !== undefined && tls?.disabled === true)
    throw new ConnectionSettingsError('an API key is given with TLS switched off; API keys are only sent over TLS');
  const security = [tlsOn ? (tls?.clientCert ? 'mTLS' : 'TLS') : 'plaintext', profile.apiKey ? 'API key' : '']
    .filter(Boolean)
    .join(' + ');
  return {
    address: profile.address as string,
    namespace: profile.namespace as string,
    taskQueue: env.NODEPOOL_TASK_QUEUE || config?.temporal.taskQueue || 'nodepool',
    profile,
    security,
  };
}

/** Options for Connection.connect and NativeConnection.connect; reads the certificate files. */
export function connectionOptions(settings: TemporalSettings): ReturnType<typeof toClientOptions>['connectionOptions'] {
  try {
    return toClientOptions(settings.profile).connectionOptions;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConnectionSettingsError(
      `cannot read a TLS file for the Temporal connection: ${e.code === 'ENOENT' ? `${e.path ?? e.message} does not exist` : e.message}`,
    );
  }
}

/**
 * One line an operator can act on, from the error of a failed connect: gRPC transport errors carry a chain of
 * Rust error debug output whose useful part is the innermost cause.
 */
export function describeConnectError(err: unknown, settings: TemporalSettings): string {
  const raw = err instanceof Error ? err.message : String(err);
  const at = `the Temporal server at ${settings.address} (${settings.security})`;
  const fix = (what: string): string => `${what}; see docs/operations.md#temporal-connections`;
  if (
    /UnknownIssuer|BadSignature|unable to get local issuer|unable to verify|self.signed|SELF_SIGNED|CaUsedAsEndEntity|invalid peer certificate/i.test(
      raw,
    )
  )
    return fix(
      `cannot reach ${at}: its TLS certificate is not signed by ${settings.profile.tls?.serverCACert ? 'the given CA (--tls-ca-path / TEMPORAL_TLS_SERVER_CA_CERT_PATH / temporal.tls-ca-path)' : "a CA this machine trusts: give the server's CA with --tls-ca-path, TEMPORAL_TLS_SERVER_CA_CERT_PATH or temporal.tls-ca-path"}`,
    );
  if (
    /NotValidForName|certificate is not valid for|hostname mismatch|ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate/i.test(
      raw,
    )
  )
    return fix(
      `cannot reach ${at}: its TLS certificate is not issued for that name; give the certificate's name with --tls-server-name or TEMPORAL_TLS_SERVER_NAME`,
    );
  if (/CertificateRequired|certificate required|bad certificate|alert/i.test(raw))
    return fix(
      `${at} refused the TLS handshake (it may require a client certificate: --tls-cert-path and --tls-key-path, or TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)`,
    );
  if (
    /InvalidContentType|CorruptMessage|wrong version number|frame with invalid size|http2 error|h2 protocol/i.test(raw)
  )
    return fix(
      `cannot reach ${at}: the server and this client disagree about TLS (${settings.security === 'plaintext' ? 'try --tls if the server uses TLS' : 'the server may not use TLS: drop the TLS settings'})`,
    );
  if (/Unauthenticated|Permission ?Denied|invalid API key|Request unauthorized/i.test(raw))
    return fix(`${at} refused the credentials (API key or client certificate): ${lastCause(raw)}`);
  if (/dns error|failed to lookup|Name or service not known|ENOTFOUND|invalid uri|InvalidUri/i.test(raw))
    return fix(
      `cannot resolve the Temporal address ${settings.address}: give host:port with --address, TEMPORAL_ADDRESS or temporal.address in nodepool.yaml`,
    );
  return fix(
    `cannot reach ${at} (${lastCause(raw)}): is it running? The address comes from --address, TEMPORAL_ADDRESS or temporal.address in nodepool.yaml`,
  );
}

/** The innermost readable cause of a Rust/tonic error chain: `... source: Os { code: 111, ... message: "Connection refused" }`. */
function lastCause(raw: string): string {
  const message = /message: "([^"]+)"/.exec(raw)?.[1];
  if (message) return message;
  const tail = raw.split(/:\s+/).filter(Boolean).pop() ?? raw;
  return tail.replace(/\s+/g, ' ').trim().slice(0, 200);
}

/**
 * The pure-JS client only says "Failed to connect before the deadline"; a plain TCP connect tells a server that is
 * not there from one that does not speak the expected protocol (TLS against plaintext, or not Temporal at all).
 */
export async function probeAddress(address: string, timeoutMs = 3000): Promise<'refused' | 'listening' | 'unknown'> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) return 'unknown';
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: m[1] as string, port: Number(m[2]) });
    const done = (r: 'refused' | 'listening' | 'unknown'): void => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done('unknown'));
    socket.once('connect', () => done('listening'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ENOTFOUND' ? 'unknown' : 'unknown'),
    );
  });
}

/** A TLS handshake with the connection's own settings: the exact reason a secured connection fails, if TLS is it. */
async function tlsHandshakeError(settings: TemporalSettings): Promise<string | undefined> {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(settings.address);
  if (!m) return undefined;
  const opts = connectionOptions(settings);
  const tls = typeof opts.tls === 'object' && opts.tls ? opts.tls : {};
  const { connect } = await import('node:tls');
  return new Promise((resolve) => {
    const host = m[1] as string;
    const socket = connect({
      host,
      port: Number(m[2]),
      ALPNProtocols: ['h2'],
      servername: tls.serverNameOverride ?? (/^[\d.]+$|:/.test(host) ? undefined : host),
      ...(tls.serverRootCACertificate ? { ca: Buffer.from(tls.serverRootCACertificate) } : {}),
      ...(tls.clientCertPair
        ? { cert: Buffer.from(tls.clientCertPair.crt), key: Buffer.from(tls.clientCertPair.key) }
        : {}),
    });
    const done = (r: string | undefined): void => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(3000, () => done(undefined));
    // A server that wants a client certificate says so after the handshake, on the first read.
    socket.once('secureConnect', () => setTimeout(() => done(undefined), 200));
    socket.once('error', (err: NodeJS.ErrnoException) => done(`${err.code ?? ''} ${err.message}`));
  });
}

/** describeConnectError, sharpened by probes when the error itself says nothing (the pure-JS client's case). */
export async function diagnoseConnectError(err: unknown, settings: TemporalSettings): Promise<string> {
  const raw = err instanceof Error ? err.message : String(err);
  if (!/before the deadline|DEADLINE_EXCEEDED|UNAVAILABLE/i.test(raw)) return describeConnectError(err, settings);
  const at = `the Temporal server at ${settings.address} (${settings.security})`;
  const probe = await probeAddress(settings.address);
  if (probe === 'refused') return describeConnectError(new Error('Connection refused'), settings);
  if (probe !== 'listening') return describeConnectError(err, settings);
  if (settings.security !== 'plaintext') {
    const tlsError = await tlsHandshakeError(settings).catch(() => undefined);
    if (tlsError) {
      const described = describeConnectError(new Error(tlsError), settings);
      // Known TLS failures get their own advice; otherwise the handshake's words are the clue.
      return described.includes('is it running?')
        ? describeConnectError(new Error(`TLS handshake: ${tlsError}`), settings)
        : described;
    }
  }
  return (
    `cannot reach ${at}: something listens there but does not answer as Temporal with these settings ` +
    `(${settings.security === 'plaintext' ? 'if the server uses TLS, add --tls or TEMPORAL_TLS=true' : 'if the server does not use TLS, drop the TLS settings'}); ` +
    'see docs/operations.md#temporal-connections'
  );
}
