// Replay as the deploy check: the histories recorded from real runs (test/histories, `npm run histories:record`)
// replay against this checkout's workflows, so a change that would break running builds, catalogs or pools
// fails here; a deliberately changed bundle shows the check can fail, and the same change behind patched()
// shows the way docs/replay.md gives for intended changes. `nodepool replay` runs as the real CLI process.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { explainNondeterminism, historyFacts } from '../cli/nondeterminism.ts';
import { webpackConfigHook } from '../worker/bundler-options.ts';
import { WORKFLOWS_PATH } from '../worker/worker.ts';
import { runCli } from './support/cli.ts';

const ROOT = join(import.meta.dirname, '..');
const HISTORIES = join(ROOT, 'test', 'histories');
const LOADER = join(ROOT, 'test', 'support', 'replace-loader.js');
const files = readdirSync(HISTORIES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => join(HISTORIES, f));
const logger = new DefaultLogger('ERROR');

before(() => {
  // Core warns about the very nondeterminism these tests provoke.
  Runtime.install({ logger, telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
});

function history(name: string) {
  const file = files.find((f) => f.includes(name));
  assert.ok(file, `no recorded history matching ${name}`);
  return historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
}

/** The workflow bundle with text edits in workflows/image-build.ts. */
function changedBundle(edits: { from: string; to: string }[]) {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger,
    webpackConfigHook: (base) => {
      const config = webpackConfigHook(base);
      config.module?.rules?.push({
        test: /workflows[\\/]image-build\.ts$/,
        enforce: 'pre',
        use: [{ loader: LOADER, options: { edits } }],
      });
      return config;
    },
  });
}

const PLAN = 'const plan: BuildPlan = await records.planBuild({';

test('the recorded histories cover image builds, catalogs and pools of both simulated providers', () => {
  const types = files.map((f) => historyFacts(historyFromJSON(JSON.parse(readFileSync(f, 'utf8')))).workflowType);
  for (const t of ['imageBuild', 'imageCatalog', 'providerPool'])
    assert.ok(types.includes(t), `no ${t} history in ${HISTORIES}`);
  // A build uploaded raw to one provider and VHD to the Xen-style one.
  const uploads = (history('tiny_scheduled').events ?? []).flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (a?.activityType?.name !== 'uploadImageFile') return [];
    return (a.input?.payloads ?? []).map(
      (p) => JSON.parse(Buffer.from(p.data as Uint8Array).toString()) as { provider: string; format: string },
    );
  });
  assert.deepEqual(uploads.map((u) => `${u.provider}:${u.format}`).sort(), ['sim-kvm:raw', 'sim-xen:vhd']);
});

test('every recorded history replays against this code (nodepool replay --file)', async () => {
  const r = await runCli(['replay', ...files.flatMap((f) => ['--file', f])]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  for (const f of files)
    assert.ok(r.stdout.includes(`OK  `) && r.stdout.includes(f), `${f} not reported OK:\n${r.stdout}`);
  assert.match(r.stdout, new RegExp(`${files.length} replayed, all deterministic`));
});

test('a build that now schedules an activity before planBuild is nondeterministic against a recorded build', async () => {
  const bundle = await changedBundle([
    { from: PLAN, to: `await records.pruneBuilds({ image: input.image });\n  ${PLAN}` },
  ]);
  const recorded = history('imageBuild');
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: bundle, replayName: 'changed' }, recorded),
    (err: Error) => {
      assert.ok(err instanceof DeterminismViolationError, `${err.name}: ${err.message}`);
      const text = explainNondeterminism(err.message, recorded, { from: 0, to: 8 });
      // planBuild was recorded as a local activity (a marker) or an activity, as the code of the day had it.
      assert.match(text, /'planBuild' does not match activity type of (local )?activity command 'pruneBuilds'/);
      assert.match(
        text,
        /event 5 (MarkerRecorded: local activity planBuild|ActivityTaskScheduled: activity planBuild)/,
      );
      return true;
    },
  );
});

test('the same change behind patched() replays the recorded builds cleanly', async () => {
  const bundle = await changedBundle([
    { from: 'import {\n', to: 'import {\n  patched,\n' },
    {
      from: PLAN,
      to: `if (patched('prune-before-plan')) await records.pruneBuilds({ image: input.image });\n  ${PLAN}`,
    },
  ]);
  for (const name of ['scheduled', 'manual'])
    await Worker.runReplayHistory({ workflowBundle: bundle, replayName: 'patched' }, history(`tiny_${name}`));
});

test('nodepool replay names the event and the command of a nondeterministic history, exit 1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-replay-'));
  try {
    // A history whose first activity was another one: as if the code had been changed under a running build.
    const json = JSON.parse(readFileSync(files.find((f) => f.includes('imageBuild')) as string, 'utf8')) as {
      events: {
        eventId: string;
        eventType: string;
        activityTaskScheduledEventAttributes?: { activityType: { name: string } };
      }[];
    };
    const at = json.events.findIndex((e) => e.activityTaskScheduledEventAttributes);
    const first = json.events[at]?.activityTaskScheduledEventAttributes;
    assert.ok(first);
    const name = first.activityType.name;
    first.activityType.name = `${name}Old`;
    const task = json.events
      .slice(0, at)
      .reverse()
      .find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
    assert.ok(task);
    const file = join(dir, 'build.json');
    writeFileSync(file, JSON.stringify(json));
    const r = await runCli(['replay', '--file', file]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /NONDETERMINISTIC {2}imageBuild/);
    assert.ok(
      r.stdout.includes(`scheduled event '${name}Old' does not match activity type of activity command '${name}'`),
      r.stdout,
    );
    assert.match(
      r.stdout,
      new RegExp(
        `workflow task that differs completed at event ${task.eventId};[^\\n]*\\n(\\s+event .*\\n)*\\s+event ${json.events[at]?.eventId} ActivityTaskScheduled: activity ${name}Old`,
      ),
    );
    assert.match(r.stdout, /1 replayed: 0 OK, 1 nondeterministic/);
    assert.doesNotMatch(r.stderr, /WARN|at .*\.js:\d+/, 'no SDK chatter or stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nodepool replay refuses bad input with exit 2 and says what is wrong', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-replay-'));
  try {
    writeFileSync(join(dir, 'text.json'), 'not json');
    writeFileSync(join(dir, 'empty.json'), '{"events": []}');
    writeFileSync(
      join(dir, 'other.json'),
      JSON.stringify({
        events: [
          { eventId: '1', eventType: 'EVENT_TYPE_TIMER_STARTED', timerStartedEventAttributes: { timerId: '1' } },
        ],
      }),
    );
    const cases: [string[], RegExp][] = [
      [[], /name a workflow ID, a history file \(--file FILE\) or --all/],
      [['--file', join(dir, 'missing.json')], /missing\.json: cannot read it \(ENOENT\)/],
      [['--file', join(dir, 'text.json')], /text\.json: not JSON/],
      [['--file', join(dir, 'empty.json')], /empty\.json: not a workflow history: it has no events/],
      [
        ['--file', join(dir, 'other.json')],
        /other\.json: not a workflow history: its first event is not WorkflowExecutionStarted/,
      ],
      [['--run-id', 'abc', '--all'], /--run-id needs a workflow ID/],
      [['some-id', '--file', join(dir, 'empty.json')], /not both/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['replay', ...args]);
      assert.equal(r.code, 2, `replay ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
