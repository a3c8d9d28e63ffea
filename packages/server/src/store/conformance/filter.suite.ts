import { expect } from 'vitest';
import type { JsonObject, JsonPrimitive, Store } from '../types.js';
import { type Harness, write } from './harness.suite.js';
import { listAll } from './list.suite.js';

/** Ids of the live resources whose docs match `filters`, across all pages. */
async function matching(store: Store, filters: Record<string, readonly JsonPrimitive[]>, limit = 3) {
  return (await listAll(store, { limit, filters })).map((head) => head.id);
}

/** One resource per kind of value of `v`, so that each filter can be checked against all of them. */
const VALUES: Readonly<Record<string, JsonObject>> = {
  str1: { v: '1' },
  num1: { v: 1 },
  num15: { v: 1.5 },
  numNeg: { v: -2 },
  strTrue: { v: 'true' },
  true: { v: true },
  false: { v: false },
  null: { v: null },
  zero: { v: 0 },
  empty: { v: '' },
  strNull: { v: 'null' },
  array: { v: [1] },
  object: { v: { v: 1 } },
  missing: { w: 1 },
};

/** Equality filters on top-level fields: strict JSON typing, odd field names, AND/OR, paging. */
export function filterTests(h: Harness): void {
  h.test('filters match strictly by JSON type and value', async (store) => {
    for (const [id, doc] of Object.entries(VALUES)) await write(store, id, doc);
    expect(await matching(store, { v: [1] })).toStrictEqual(['num1']);
    expect(await matching(store, { v: ['1'] })).toStrictEqual(['str1']);
    expect(await matching(store, { v: [1.5] })).toStrictEqual(['num15']);
    expect(await matching(store, { v: [-2] })).toStrictEqual(['numNeg']);
    expect(await matching(store, { v: [true] })).toStrictEqual(['true']);
    expect(await matching(store, { v: [false] })).toStrictEqual(['false']);
    expect(await matching(store, { v: [null] })).toStrictEqual(['null']);
    expect(await matching(store, { v: [0] })).toStrictEqual(['zero']);
    expect(await matching(store, { v: [''] })).toStrictEqual(['empty']);
    expect(await matching(store, { v: ['true'] })).toStrictEqual(['strTrue']);
    expect(await matching(store, { v: ['null'] })).toStrictEqual(['strNull']);
    expect(await matching(store, { v: [2] })).toStrictEqual([]);
    expect(await matching(store, { w: [1] })).toStrictEqual(['missing']);
  });

  h.test('several values of one field match any of them', async (store) => {
    for (const [id, doc] of Object.entries(VALUES)) await write(store, id, doc);
    expect(await matching(store, { v: [1, '1', null] })).toStrictEqual(['null', 'num1', 'str1']);
    expect(await matching(store, { v: [true, false] })).toStrictEqual(['false', 'true']);
    expect(await matching(store, { v: [] })).toStrictEqual([]);
  });

  h.test('several fields must all match', async (store) => {
    await write(store, 'a', { region: 'eu', name: 'web', up: true });
    await write(store, 'b', { region: 'eu', name: 'db', up: true });
    await write(store, 'c', { region: 'us', name: 'web', up: true });
    await write(store, 'd', { region: 'eu', name: 'web', up: false });
    expect(await matching(store, { region: ['eu'], name: ['web'] })).toStrictEqual(['a', 'd']);
    expect(await matching(store, { region: ['eu'], name: ['web'], up: [true] })).toStrictEqual(['a']);
    expect(await matching(store, { region: ['eu', 'us'], name: ['web'], up: [true] })).toStrictEqual([
      'a',
      'c',
    ]);
  });

  h.test('filter field names may contain any characters', async (store) => {
    const names = ['a"b', '$.x', 'a.b', 'a\\b', "it's", 'a[0]', '', ' ', 'é', '*', '%', '?', 'a b', '\\"'];
    for (const [i, name] of names.entries()) await write(store, `r${i}`, { [name]: i, x: i });
    await write(store, 'nested', { a: { b: 1 }, $: { x: 1 } });
    for (const [i, name] of names.entries()) {
      expect(await matching(store, { [name]: [i] })).toStrictEqual([`r${i}`]);
    }
    expect(await matching(store, { x: [1] })).toStrictEqual(['r1']);
    expect(await matching(store, { 'a.b': [1] })).toStrictEqual([]);
    expect(await matching(store, { '$.x': [1] })).toStrictEqual(['r1']);
    expect(await matching(store, { 'a"b': [0], x: [0] })).toStrictEqual(['r0']);
  });

  h.test('filters only look at top-level members, not nested ones', async (store) => {
    await write(store, 'flat', { status: 'paid' });
    await write(store, 'deep', { order: { status: 'paid' } });
    await write(store, 'list', { statuses: ['paid'] });
    expect(await matching(store, { status: ['paid'] })).toStrictEqual(['flat']);
  });

  h.test('filters skip tombstones and page without duplicates or gaps', async (store) => {
    const expected: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = `r${String(i).padStart(2, '0')}`;
      await write(store, id, { even: i % 2 === 0 });
      if (i % 2 === 0 && i % 3 !== 0) expected.push(id);
    }
    for (let i = 0; i < 30; i += 3) await write(store, `r${String(i).padStart(2, '0')}`, null);
    for (const limit of [1, 2, 4, 1000]) {
      expect(await matching(store, { even: [true] }, limit)).toStrictEqual(expected);
    }
  });

  h.test('filters compare numbers by value and strings exactly', async (store) => {
    await write(store, 'big', { v: 1e300 });
    await write(store, 'tiny', { v: 5e-324 });
    await write(store, 'safe', { v: Number.MAX_SAFE_INTEGER });
    await write(store, 'accent', { v: 'é' });
    await write(store, 'decomposed', { v: 'e\u0301' });
    await write(store, 'upper', { v: 'A' });
    await write(store, 'lower', { v: 'a' });
    expect(await matching(store, { v: [1e300] })).toStrictEqual(['big']);
    expect(await matching(store, { v: [5e-324] })).toStrictEqual(['tiny']);
    expect(await matching(store, { v: [Number.MAX_SAFE_INTEGER] })).toStrictEqual(['safe']);
    expect(await matching(store, { v: ['é'] })).toStrictEqual(['accent']);
    expect(await matching(store, { v: ['e\u0301'] })).toStrictEqual(['decomposed']);
    expect(await matching(store, { v: ['a'] })).toStrictEqual(['lower']);
  });

  // PostgreSQL text holds neither U+0000 nor a lone surrogate; a document holding one (valid JSON)
  // once made every filtered list of its collection fail.
  h.test('documents with U+0000, lone surrogates and look-alike text filter exactly', async (store) => {
    const docs: Record<string, JsonObject> = {
      nul: { v: 'a\u0000b', k: 1 },
      high: { v: '\ud800', k: 2 },
      low: { v: 'x\udfff', k: 3 },
      pair: { v: '\ud83d\ude00', k: 4 },
      backslashU: { v: '\\u0000', k: 5 },
      escapeChar: { v: '\ue000', k: 6 },
      escapeB: { v: '\ue000b', k: 7 },
      nulKey: { 'n\u0000': 'x', k: 8 },
      nested: { deep: { v: '\u0000' }, v: 'plain', k: 9 },
      plain: { v: 'a', k: 10 },
    };
    for (const [id, doc] of Object.entries(docs)) await write(store, id, doc);
    expect(await matching(store, { v: ['a\u0000b'] })).toStrictEqual(['nul']);
    expect(await matching(store, { v: ['\ud800'] })).toStrictEqual(['high']);
    expect(await matching(store, { v: ['x\udfff'] })).toStrictEqual(['low']);
    expect(await matching(store, { v: ['\ud83d\ude00'] })).toStrictEqual(['pair']);
    expect(await matching(store, { v: ['\\u0000'] })).toStrictEqual(['backslashU']);
    expect(await matching(store, { v: ['\ue000'] })).toStrictEqual(['escapeChar']);
    expect(await matching(store, { v: ['\ue000b'] })).toStrictEqual(['escapeB']);
    expect(await matching(store, { v: ['\\'] })).toStrictEqual([]);
    expect(await matching(store, { 'n\u0000': ['x'] })).toStrictEqual(['nulKey']);
    expect(await matching(store, { n: ['x'] })).toStrictEqual([]);
    expect(await matching(store, { v: ['plain'] })).toStrictEqual(['nested']);
    expect(await matching(store, { v: ['a'] })).toStrictEqual(['plain']);
    expect(await matching(store, { k: [1, 2, 3, 8, 10] })).toStrictEqual([
      'high',
      'low',
      'nul',
      'nulKey',
      'plain',
    ]);
    expect(await matching(store, { v: ['\u0000'] })).toStrictEqual([]);
  });
}
