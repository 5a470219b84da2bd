// Loaded into every test file's process (scripts/test-env.ts passes --import). A file whose tests are over but
// which keeps a server or connection open would otherwise never exit, and the run would end only at CI's own
// timeout with nothing said. Root-level after hooks run in the order registered, so this one starts before the
// file's own cleanups: the grace covers them.
import { after } from 'node:test';
import { relative } from 'node:path';

const GRACE_MS = Number(process.env.NODEPOOL_TEST_EXIT_GRACE_MS ?? 180_000);

after(() => {
  setTimeout(() => {
    const file = relative(process.cwd(), process.argv[1] ?? 'this test file');
    console.error(
      `${file}: still running ${GRACE_MS / 1000} s after its tests ended, held open by ` +
        `${process.getActiveResourcesInfo().join(', ') || 'nothing visible'}: a cleanup failed or forgot a ` +
        'server, connection or child process; exiting with 1',
    );
    process.exit(1);
  }, GRACE_MS).unref();
});
