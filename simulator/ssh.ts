// One real SSH endpoint per server, each on its own loopback address (Linux routes all of 127/8 to lo), so a
// driver's ready check does a genuine handshake and can verify the host key the console log printed.
// The listener is bound when the server is created (that reserves the address) but refuses sessions until the
// server is ACTIVE, as a booting VM would. An `exec` really runs its command with `sh -c` in the server's own
// scratch directory (a snapshot build's setup script, `ssh host bash -s < script`), unless the sshExec knob
// says to refuse it or fail it; the sshAuth knob can refuse every login.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer } from 'node:net';
import ssh2 from 'ssh2';

const { Server: SshServer, utils } = ssh2;

/** What the fleet reads at every login and exec (the knobs may change while the simulator runs). */
export interface SshBehaviour {
  exec: 'run' | 'refuse' | 'fail';
  auth: 'accept' | 'refuse';
}

export interface HostKey {
  privateKey: string;
  publicKey: string;
}

export function generateHostKey(): HostKey {
  // ssh2 1.17 now and then writes an ed25519 key its own parser rejects ("Malformed OpenSSH private key");
  // check each one and draw again rather than fail a server create.
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(pair.private) instanceof Error)) return { privateKey: pair.private, publicKey: pair.public };
  }
  throw new Error('could not generate a parseable ed25519 host key');
}

/** 127.100.0.1, 127.100.0.2, … skipping host octets 0 and 255. */
export function loopbackAddress(index: number): string {
  const c = (index % 254) + 1;
  const b = Math.floor(index / 254) % 256;
  const a = 100 + (Math.floor(index / (254 * 256)) % 150);
  return `127.${a}.${b}.${c}`;
}

interface Endpoint {
  tcp: TcpServer;
  sockets: Set<Socket>;
  children: Set<ChildProcess>;
}

export interface SshFleetOptions {
  port: number;
  isReady: (serverId: string) => boolean;
  behaviour: () => SshBehaviour;
  /** Where a server's commands run; created on first use, removed with the server. */
  scratchDir: (serverId: string) => string;
}

export class SshFleet {
  private readonly port: number;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly isReady: (serverId: string) => boolean;
  private readonly behaviour: () => SshBehaviour;
  private readonly scratchDir: (serverId: string) => string;

  constructor(opts: SshFleetOptions) {
    this.port = opts.port;
    this.isReady = opts.isReady;
    this.behaviour = opts.behaviour;
    this.scratchDir = opts.scratchDir;
  }

  /**
   * Binds an endpoint for the server at `address`, or, if that is taken (another simulator shares the machine),
   * at the next free candidate. Returns the address actually bound.
   */
  async bind(serverId: string, hostKey: string, address: string, nextCandidate: () => string): Promise<string> {
    await this.release(serverId);
    let candidate = address;
    for (let attempt = 0; attempt < 512; attempt++) {
      const sockets = new Set<Socket>();
      const children = new Set<ChildProcess>();
      const ssh = this.makeServer(serverId, hostKey, children);
      // A plain TCP listener in front of ssh2, so a server that is not ACTIVE resets the connection at once,
      // as a guest whose sshd is not up yet would.
      const server = createTcpServer((socket) => {
        if (!this.isReady(serverId)) {
          socket.destroy();
          return;
        }
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        ssh.injectSocket(socket);
      });
      const ok = await new Promise<boolean>((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => {
          if (err.code === 'EADDRINUSE') resolve(false);
          else reject(new Error(`cannot listen for SSH on ${candidate}:${this.port}: ${err.message}`));
        };
        server.once('error', onError);
        server.listen(this.port, candidate, () => {
          server.off('error', onError);
          resolve(true);
        });
      });
      if (ok) {
        this.endpoints.set(serverId, { tcp: server, sockets, children });
        return candidate;
      }
      candidate = nextCandidate();
    }
    throw new Error(`no free loopback address for SSH port ${this.port} after 512 attempts`);
  }

  private makeServer(serverId: string, hostKey: string, children: Set<ChildProcess>): InstanceType<typeof SshServer> {
    return new SshServer({ hostKeys: [hostKey], ident: 'OpenSSH_9.6p1 nodepool-sim' }, (client) => {
      let username = 'root';
      client.on('error', () => {});
      // Any credentials are fine unless the knob says none are: what is simulated is a reachable guest.
      client.on('authentication', (ctx) => {
        username = ctx.username;
        if (this.behaviour().auth === 'refuse') ctx.reject();
        else ctx.accept();
      });
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept();
          const env: Record<string, string> = {};
          session.on('env', (acceptEnv, _reject, info) => {
            env[info.key] = info.val;
            acceptEnv?.();
          });
          session.on('pty', (acceptPty) => acceptPty?.());
          session.on('exec', (acceptExec, rejectExec, info) => {
            const mode = this.behaviour().exec;
            if (mode === 'refuse') return rejectExec();
            const stream = acceptExec();
            if (mode === 'fail') {
              stream.stderr.write(`sim-cloud: exec of '${info.command}' failed on purpose (sshExec knob is 'fail')\n`);
              stream.exit(1);
              stream.end();
              return;
            }
            this.run(serverId, ['-c', info.command], { ...env, USER: username, LOGNAME: username }, stream, children);
          });
          session.on('shell', (acceptShell, rejectShell) => {
            const mode = this.behaviour().exec;
            if (mode === 'refuse') return rejectShell();
            const stream = acceptShell();
            if (mode === 'fail') {
              stream.exit(1);
              stream.end();
              return;
            }
            // No terminal: the shell reads its commands from the client's stdin (`ssh host < script`).
            this.run(serverId, [], { ...env, USER: username, LOGNAME: username }, stream, children);
          });
        });
      });
    });
  }

  /** Runs `sh args…` in the server's scratch dir, wired to an SSH channel: stdin in, stdout/stderr out, exit code. */
  private run(
    serverId: string,
    args: string[],
    env: Record<string, string>,
    stream: ssh2.ServerChannel,
    children: Set<ChildProcess>,
  ): void {
    const cwd = this.scratchDir(serverId);
    mkdirSync(cwd, { recursive: true });
    const child = spawn('sh', args, {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, SHELL: '/bin/sh', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(child);
    child.stdin.on('error', () => {}); // the command may exit before reading all of stdin
    stream.pipe(child.stdin);
    child.stdout.pipe(stream, { end: false });
    child.stderr.pipe(stream.stderr, { end: false });
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, message?: string) => {
      if (done) return;
      done = true;
      children.delete(child);
      if (message) stream.stderr.write(message);
      if (signal) stream.exit(signal.replace(/^SIG/, ''), false, '');
      else stream.exit(code ?? 1);
      stream.end();
    };
    child.on('error', (err) => finish(127, null, `sim-cloud: cannot run sh: ${err.message}\n`));
    child.on('close', (code, signal) => finish(code, signal));
    // The client went away: the command goes too, as a guest's would with its session.
    stream.on('close', () => {
      if (!done) child.kill('SIGKILL');
    });
  }

  /** Stops the endpoint and any command it runs; the scratch dir stays (the server may come back on restart). */
  async release(serverId: string): Promise<void> {
    const ep = this.endpoints.get(serverId);
    if (!ep) return;
    this.endpoints.delete(serverId);
    for (const child of ep.children) child.kill('SIGKILL');
    for (const socket of ep.sockets) socket.destroy();
    await new Promise<void>((resolve) => ep.tcp.close(() => resolve()));
  }

  /** The server is gone: its endpoint, its commands and its scratch dir. */
  async discard(serverId: string): Promise<void> {
    await this.release(serverId);
    rmSync(this.scratchDir(serverId), { recursive: true, force: true });
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.endpoints.keys()].map((id) => this.release(id)));
  }
}
