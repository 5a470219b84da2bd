// A server's SSH endpoint runs what it is asked to (snapshot builds run their setup script this way), in the
// server's own scratch directory, and the sshExec / sshAuth knobs make it refuse or fail so failure paths are
// testable.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import type { Sim } from './simulator-support.ts';
import { activeImage, api, createServer, issueToken, startSim, until, waitStatus } from './simulator-support.ts';

let sim: Sim;
let token: string;
let address: string;
let serverId: string;

interface Ran {
  stdout: string;
  stderr: string;
  code: number | null;
  signal?: string;
}

/** Connects, runs `command` (or a shell when undefined) with `stdin`, and collects what came back. */
function ssh(host: string, command: string | undefined, stdin = ''): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    const timer = setTimeout(() => {
      client.end();
      reject(new Error(`ssh to ${host} timed out`));
    }, 15_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      client.end();
      reject(err);
    };
    client.on('error', fail);
    client.on('ready', () => {
      const onChannel = (err: Error | undefined, stream: ssh2.ClientChannel) => {
        if (err) return fail(err);
        const out: Ran = { stdout: '', stderr: '', code: null };
        stream.on('data', (d: Buffer) => (out.stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
        stream.on('exit', (code: number | null, signal?: string) => {
          out.code = code;
          if (signal) out.signal = signal;
        });
        stream.on('close', () => {
          clearTimeout(timer);
          client.end();
          resolve(out);
        });
        stream.end(stdin);
      };
      if (command === undefined) client.shell(false, onChannel);
      else client.exec(command, onChannel);
    });
    client.connect({ host, port: 2222, username: 'ci', password: 'anything', readyTimeout: 10_000 });
  });
}

before(async () => {
  sim = await startSim({ knobs: { bootSeconds: { min: 0, max: 0 } } });
  token = await issueToken(sim);
  const image = await activeImage(sim, token);
  serverId = (await createServer(sim, token, image)).body.server.id as string;
  address = (await waitStatus(sim, token, serverId, 'ACTIVE')).body.server.addresses.private[0].addr as string;
});
after(async () => sim.dispose());

describe('ssh exec', () => {
  test('runs the command with sh -c in the server scratch dir: stdin in, stdout and stderr out, exit code', async () => {
    const r = await ssh(address, 'pwd; echo "user=$USER"; echo oops >&2; cat; exit 3', 'from stdin\n');
    assert.equal(r.code, 3);
    const [pwd, user, echoed] = r.stdout.trim().split('\n');
    assert.equal(pwd, join(sim.stateDir, 'servers', serverId));
    assert.equal(user, 'user=ci');
    assert.equal(echoed, 'from stdin');
    assert.equal(r.stderr, 'oops\n');
  });

  test('`bash -s < script` style: the script arrives on stdin; files persist between sessions', async () => {
    const script = 'set -e\necho built > artefact.txt\necho "setup done"\n';
    const r = await ssh(address, 'sh -s', script);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'setup done\n');
    const again = await ssh(address, 'cat artefact.txt');
    assert.equal(again.stdout, 'built\n');
    const shell = await ssh(address, undefined, 'echo from a shell\nexit 5\n');
    assert.equal(shell.stdout, 'from a shell\n');
    assert.equal(shell.code, 5);
  });

  test('a command killed by a signal reports the signal', async () => {
    const r = await ssh(address, 'kill -TERM $$');
    assert.match(r.signal ?? '', /^(SIG)?TERM$/, 'sent as TERM on the wire (RFC 4254); ssh2 adds SIG');
  });

  test('sshExec refuse and fail, sshAuth refuse', async () => {
    try {
      await sim.setKnobs({ sshExec: 'refuse' });
      await assert.rejects(ssh(address, 'true'), /Unable to exec/);
      await sim.setKnobs({ sshExec: 'fail' });
      const failed = await ssh(address, 'echo never');
      assert.equal(failed.code, 1);
      assert.equal(failed.stdout, '');
      assert.match(failed.stderr, /failed on purpose \(sshExec knob is 'fail'\)/);
      await sim.setKnobs({ sshExec: 'run', sshAuth: 'refuse' });
      await assert.rejects(ssh(address, 'true'), /authentication methods failed/);
    } finally {
      await sim.setKnobs({ sshExec: 'run', sshAuth: 'accept' });
    }
    assert.equal((await ssh(address, 'echo back')).stdout, 'back\n');
  });

  test('deleting the server removes its scratch dir', async () => {
    const dir = join(sim.stateDir, 'servers', serverId);
    assert.ok(existsSync(dir));
    assert.equal((await api(`${sim.compute}/servers/${serverId}`, { method: 'DELETE', token })).status, 204);
    await until('scratch dir gone', async () => (existsSync(dir) ? undefined : true));
  });
});
