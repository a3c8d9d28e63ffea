import { expect } from 'vitest';
import type { JsonObject, Store } from '../types.js';
import { C, type Harness, allChanges, allHistory, write } from './harness.suite.js';

/**
 * Writes `doc` and checks that every read path gives it back deeply equal. Key order is checked by a
 * test of its own, so that an adapter that cannot keep it skips only that test.
 */
async function roundTrip(store: Store, doc: JsonObject, expected: JsonObject = doc): Promise<void> {
  const head = await write(store, 'doc', doc);
  expect(head.doc).toStrictEqual(expected);
  const reads = [
    (await store.get(C, 'doc'))?.doc,
    (await store.list(C, { limit: 1 })).items[0]?.doc,
    (await allHistory(store, 'doc'))[0]?.doc,
    (await store.version(C, 'doc', head.version))?.doc,
    (await allChanges(store)).at(-1)?.doc,
  ];
  for (const read of reads) expect(read).toStrictEqual(expected);
}

/** Documents come back exactly as written: Unicode, size, numbers, nesting. */
export function documentTests(h: Harness): void {
  h.test('unicode round-trips exactly', async (store) => {
    await roundTrip(store, {
      latin: 'héllo wörld',
      cjk: '日本語のテキスト',
      emoji: '😀 👩‍👩‍👧‍👦 🏳️‍🌈',
      rtl: 'مرحبا بالعالم',
      combining: 'e\u0301 vs é',
      controls: 'tab\t newline\n quote" backslash\\ bell\u0007',
      'ключ 🔑': 'non-ASCII keys too',
      '': 'empty key',
    });
  });

  h.test('strings with NUL and lone surrogates round-trip', async (store) => {
    await roundTrip(store, { nul: 'a\u0000b', high: '\ud800', low: 'x\udc00y', 'k\u0000': 1 });
  });

  h.test('a 500 KB document round-trips', async (store) => {
    const chunk = 'Lorem ipsum ✓ 😀 "quoted" \\ ';
    const text = chunk.repeat(Math.ceil(500_000 / chunk.length));
    const numbers = Array.from({ length: 10_000 }, (_, i) => i * 1.25 - 5000);
    await roundTrip(store, { text, numbers, nested: { text } }, { text, numbers, nested: { text } });
    expect(JSON.stringify((await store.get(C, 'doc'))?.doc).length).toBeGreaterThan(1_000_000);
  });

  h.test('numbers round-trip exactly', async (store) => {
    const numbers = {
      half: 1.5,
      huge: 1e300,
      small: -1e-300,
      denormal: 5e-324,
      maxSafe: Number.MAX_SAFE_INTEGER,
      minSafe: Number.MIN_SAFE_INTEGER,
      unsafe: 2 ** 60,
      sum: 0.1 + 0.2,
      long: 123456789.12345679,
      max: Number.MAX_VALUE,
      zero: 0,
      negative: -42,
    };
    await roundTrip(store, numbers);
    // JSON has no -0: it is stored as 0 (either sign reads back as a number equal to 0).
    const head = await write(store, 'minus-zero', { z: -0 });
    expect(head.doc?.['z'] === 0).toBe(true);
    expect((await store.get(C, 'minus-zero'))?.doc?.['z'] === 0).toBe(true);
  });

  h.test('nesting, arrays and empty values round-trip', async (store) => {
    let deep: JsonObject = { leaf: true };
    for (let i = 0; i < 100; i++) deep = { level: i, child: deep };
    await roundTrip(store, {
      m: [[], {}, [[[]]], [null, true, false, 0, '', { k: [1, 'two', null] }]],
      empty: {},
      deep,
    });
    await roundTrip(store, {});
  });

  h.test('object key order is preserved', async (store) => {
    const doc = { zebra: 1, apple: { y: 1, b: 2, yy: 3 }, mango: [{ z: 0, a: 0 }], a: 'last' };
    await write(store, 'doc', doc);
    const read = await store.get(C, 'doc');
    expect(JSON.stringify(read?.doc)).toBe(JSON.stringify(doc));
    expect(JSON.stringify((await allChanges(store)).at(-1)?.doc)).toBe(JSON.stringify(doc));
  });
}
