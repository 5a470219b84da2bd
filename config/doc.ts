// docs/configuration.md's table of every key, generated from keys.ts (which the schema is checked against), so
// the page cannot drift from what the loader does. `npm run docs:config` rewrites it; a test fails on drift.
import { format } from 'prettier';
import { SECTIONS, type KeyStatus } from './keys.ts';

export const BEGIN = '<!-- BEGIN generated key table: npm run docs:config (config/keys.ts); do not edit -->';
export const END = '<!-- END generated key table -->';

const STATUS: Record<KeyStatus, string> = {
  implemented: 'implemented',
  replaced: 'replaced (notice)',
  'not-yet': '**not supported yet** (error)',
  extension: 'ours (extension)',
};

/** The table, formatted as prettier formats the rest of the page. */
export async function keyTable(): Promise<string> {
  const rows = [
    '| Key | Status | Type | Default here | Where it acts, or what replaces it |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const section of SECTIONS)
    for (const key of section.keys)
      rows.push(
        `| \`${section.prefix}${key.key}\` | ${STATUS[key.status]} | ${key.type} | ${key.default ?? ''} | ${key.acts} |`,
      );
  return (
    await format(`${rows.join('\n')}\n`, { parser: 'markdown', printWidth: 120, proseWrap: 'preserve' })
  ).trimEnd();
}

/** The page with its generated block replaced; throws when the markers are missing. */
export async function withKeyTable(page: string): Promise<string> {
  const start = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`the page lacks the markers ${BEGIN} … ${END}`);
  return `${page.slice(0, start + BEGIN.length)}\n\n${await keyTable()}\n\n${page.slice(end)}`;
}
