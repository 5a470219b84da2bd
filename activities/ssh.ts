// SSH as nodepool uses it: a handshake that proves a node booted (and records its host key, like nodepool's
// keyscan), and running a setup script on a snapshot build's template server with its output in the build log.
import { setTimeout as delay } from 'node:timers/promises';
import ssh2 from 'ssh2';

const { Client, utils } = ssh2;

export interface SshTarget {
  host: string;
  port: number;
  /** Per attempt. */
  timeoutMs: number;
  signal?: AbortSignal;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('cancelled');
}

/** The OpenSSH one-line form of a host key blob, e.g. "ssh-ed25519 AAAAC3…". */
export function formatHostKey(key: Buffer): string {
  const parsed = utils.parseKey(key);
  const type = parsed instanceof Error || Array.isArray(parsed) ? 'unknown' : parsed.type;
  return `${type} ${key.toString('base64')}`;
}

/**
 * One SSH handshake: resolves with the server's host key once key exchange is done, whatever the
 * authentication outcome (a node is ready when its sshd answers, not when we can log in).
 */
export function sshHostKey(target: SshTarget): Promise<string> {
  return new Promise((resolve, reject) => {
    if (target.signal?.aborted) return reject(abortError(target.signal));
    const client = new Client();
    let hostKey: string | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      target.signal?.removeEventListener('abort', onAbort);
      client.end();
      if (hostKey) resolve(hostKey);
      else reject(err ?? new Error(`ssh ${target.host}:${target.port}: closed before key exchange`));
    };
    const onAbort = (): void => finish(abortError(target.signal as AbortSignal));
    target.signal?.addEventListener('abort', onAbort, { once: true });
    client.on('ready', () => finish());
    client.on('error', (err) => finish(err));
    client.on('close', () => finish());
    client.connect({
      host: target.host,
      port: target.port,
      username: 'nodepool-keyscan',
      readyTimeout: target.timeoutMs,
      hostVerifier: (key: Buffer) => {
        hostKey = formatHostKey(key);
        // Key exchange is the proof; no need to authenticate.
        setImmediate(() => finish());
        return true;
      },
    });
  });
}

export interface SshScriptOptions extends SshTarget {
  username: string;
  privateKey?: string;
  /** The script's text; sent on stdin, so nothing needs to be copied first. */
  script: string;
  /** Each line of output, stdout and stderr alike. */
  onLine: (line: string) => void;
}

/** Runs a script on the host; resolves with its exit code. The script runs from the login directory. */
export function sshRunScript(opts: SshScriptOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(abortError(opts.signal));
    const client = new Client();
    let settled = false;
    const done = (err: Error | undefined, code?: number): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      client.end();
      if (err) reject(err);
      else resolve(code ?? 255);
    };
    const onAbort = (): void => done(abortError(opts.signal as AbortSignal));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const lines = (prefix: string) => {
      let rest = '';
      return (chunk: Buffer): void => {
        const text = rest + chunk.toString('utf8');
        const parts = text.split('\n');
        rest = parts.pop() ?? '';
        for (const p of parts) opts.onLine(`${prefix}${p}`);
      };
    };
    client.on('error', (err) => done(err));
    client.on('ready', () => {
      // Written to the login directory, not /tmp: concurrent builds on one host must not share a file.
      const command = 'cat > ./nodepool-setup.sh && chmod +x ./nodepool-setup.sh && ./nodepool-setup.sh';
      client.exec(command, (err, stream) => {
        if (err) return done(new Error(`ssh ${opts.host}: could not run the setup script: ${err.message}`));
        stream.on('data', lines(''));
        stream.stderr.on('data', lines(''));
        stream.on('exit', (code: number | null, signal?: string) => {
          if (code === null) opts.onLine(`setup script killed by signal ${signal ?? 'unknown'}`);
          done(undefined, code ?? 255);
        });
        stream.on('close', () => done(undefined, 255));
        stream.end(opts.script);
      });
    });
    client.connect({
      host: opts.host,
      port: opts.port,
      username: opts.username,
      readyTimeout: opts.timeoutMs,
      ...(opts.privateKey ? { privateKey: opts.privateKey } : {}),
      // Template servers are new every build: their host key is recorded, not checked.
      hostVerifier: () => true,
    });
  });
}

/**
 * Handshakes until one succeeds (a node's sshd is up) or `timeoutMs` (boot-timeout) passes: resolves with the host
 * key, or rejects naming the address, the timeout and the last error.
 */
export async function waitForSsh(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
  pollMs = 250,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  while (Date.now() < deadline) {
    try {
      return await sshHostKey({
        host,
        port,
        timeoutMs: Math.max(1000, Math.min(10_000, deadline - Date.now())),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      last = err as Error;
      await delay(pollMs, undefined, { signal });
    }
  }
  throw new Error(
    `no SSH on ${host}:${port} within ${timeoutMs / 1000} s (boot-timeout): ${last?.message ?? 'no answer'}`,
  );
}
