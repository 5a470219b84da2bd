// Ending a child process the way a crash does, and knowing when it is gone.
import type { ChildProcess } from 'node:child_process';

/** SIGKILLs the process (as a crash or the OOM killer would) and resolves once it has exited. */
export function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
