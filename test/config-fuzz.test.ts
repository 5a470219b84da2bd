// Whatever an operator's editor leaves in the file, loading it either succeeds or names places inside the file;
// it never crashes with an error that is not a ConfigError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from './support/fast-check.ts';
import { ConfigError, parseConfig } from '../config/index.ts';

const EXAMPLE = readFileSync(join(import.meta.dirname, '..', 'nodepool.example.yaml'), 'utf8');
const LINES = EXAMPLE.split('\n');

/** Edits an operator might make by accident: drop a line, duplicate one, change indentation, retype a character. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), line: fc.nat(LINES.length - 1) }),
  fc.record({ kind: fc.constant('dup' as const), line: fc.nat(LINES.length - 1) }),
  fc.record({
    kind: fc.constant('indent' as const),
    line: fc.nat(LINES.length - 1),
    by: fc.integer({ min: -4, max: 4 }),
  }),
  fc.record({
    kind: fc.constant('char' as const),
    line: fc.nat(LINES.length - 1),
    at: fc.nat(80),
    char: fc.constantFrom('-', ':', ' ', 'x', '1', '[', '{', '"', "'", '&', '*', '#', '\t', '!'),
  }),
);

type Edit = typeof edit extends fc.Arbitrary<infer E> ? E : never;

function apply(lines: string[], e: Edit): string[] {
  const out = [...lines];
  const line = out[e.line] ?? '';
  switch (e.kind) {
    case 'drop':
      out.splice(e.line, 1);
      break;
    case 'dup':
      out.splice(e.line, 0, line);
      break;
    case 'indent':
      out[e.line] = e.by >= 0 ? ' '.repeat(e.by) + line : line.replace(new RegExp(`^ {0,${-e.by}}`), '');
      break;
    case 'char':
      out[e.line] = line.slice(0, e.at) + e.char + line.slice(e.at);
      break;
  }
  return out;
}

test('edited example files load or report positions inside the file', () => {
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
      const lines = edits.reduce(apply, LINES);
      const text = lines.join('\n');
      try {
        parseConfig(text, 'fuzz.yaml', { env: { PATH: '' } });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        assert.ok(err.issues.length > 0);
        for (const issue of err.issues) {
          assert.equal(issue.file, 'fuzz.yaml');
          assert.ok(
            issue.line !== undefined && issue.line >= 1 && issue.line <= lines.length + 1,
            `line ${issue.line}`,
          );
          assert.ok(issue.column !== undefined && issue.column >= 1);
          assert.ok(issue.message.length > 0);
        }
      }
    }),
    { numRuns: 500 },
  );
});
