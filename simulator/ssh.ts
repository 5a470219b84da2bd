// One real SSH endpoint per server, each on its own loopback address (Linux routes all of 127/8 to lo), so a
// driver's ready check does a genuine handshake and can verify the host key the console log printed.
// The listener is bound when the server is created (that reserves the address) but refuses sessions until the
// server is ACTIVE, as a booting VM would.
import type { Socket } from 'node:net';
import { createServer as createTcpServer } from 'node:net';
import type { Server as TcpServer } from 'node:net';
import ssh2 from 'ssh2';

const { Server: SshServer, utils } = ssh2;

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
}

export class SshFleet {
  private readonly port: number;
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly isReady: (serverId: string) => boolean;

  constructor(port: number, isReady: (serverId: string) => boolean) {
    this.port = port;
    this.isReady = isReady;
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
      const ssh = this.makeServer(hostKey);
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
        this.endpoints.set(serverId, { tcp: server, sockets });
        return candidate;
      }
      candidate = nextCandidate();
    }
    throw new Error(`no free loopback address for SSH port ${this.port} after 512 attempts`);
  }

  private makeServer(hostKey: string): InstanceType<typeof SshServer> {
    return new SshServer({ hostKeys: [hostKey], ident: 'OpenSSH_9.6p1 nodepool-sim' }, (client) => {
      client.on('error', () => {});
      // Any credentials are fine: what is being simulated is a reachable, booted guest, not its users.
      client.on('authentication', (ctx) => ctx.accept());
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept();
          session.on('exec', (acceptExec) => {
            const stream = acceptExec();
            stream.exit(0);
            stream.end();
          });
          session.on('shell', (acceptShell) => {
            const stream = acceptShell();
            stream.exit(0);
            stream.end();
          });
        });
      });
    });
  }

  async release(serverId: string): Promise<void> {
    const ep = this.endpoints.get(serverId);
    if (!ep) return;
    this.endpoints.delete(serverId);
    for (const socket of ep.sockets) socket.destroy();
    await new Promise<void>((resolve) => ep.tcp.close(() => resolve()));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.endpoints.keys()].map((id) => this.release(id)));
  }
}
