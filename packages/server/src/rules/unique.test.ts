import { describe, expect, it } from 'vitest';
import { caseFold } from './unique.js';

describe('caseFold', () => {
  it('joins what Unicode case folding joins', () => {
    for (const [a, b] of [
      ['STRASSE', 'straße'],
      ['ΣΟΦΙΑ', 'σοφια'],
      ['ΌΣΟΣ', 'όσος'],
      ['\u212Aelvin', 'kelvin'], // U+212A KELVIN SIGN
      ['ſtop', 'stop'],
      ['Éclair', 'e\u0301clair'],
    ]) {
      expect(caseFold(a!), `${a} ~ ${b}`).toBe(caseFold(b!));
    }
  });

  it('keeps apart what folding keeps apart', () => {
    for (const [a, b] of [
      ['ırk', 'irk'],
      ['x²', 'x2'],
      ['ｊｏｈｎ', 'john'],
      ['Ⅻ', 'xii'],
    ]) {
      expect(caseFold(a!), `${a} vs ${b}`).not.toBe(caseFold(b!));
    }
  });
});
