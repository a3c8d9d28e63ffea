import { describe, expect, it } from 'vitest';
import { parsePath, routeOf } from './path.js';

describe('parsePath', () => {
  it('removes dot segments as RFC 3986 5.2.4 does (its section 5.4 examples, made absolute)', () => {
    const cases: [string, string][] = [
      ['/a/b/c/./../../g', '/a/g'],
      ['/a/b/c/g/.', '/a/b/c/g/'],
      ['/a/b/c/g/..', '/a/b/c/'],
      ['/a/b/c/../../../g', '/g'],
      ['/a/b/c/../../../../g', '/g'],
      ['/a/b/./g', '/a/b/g'],
      ['/a/b/g.', '/a/b/g.'],
      ['/a/b/..g', '/a/b/..g'],
      ['/..', '/'],
    ];
    for (const [raw, canonical] of cases) expect(parsePath(raw), raw).toMatchObject({ canonical });
  });

  it('decodes before resolving, as the URL parser and the router do, and keeps the query', () => {
    expect(parsePath('/folders/%2e%2E/_batch?x=%20')).toEqual({
      segments: ['_batch'],
      canonical: '/_batch?x=%20',
    });
    expect(parsePath('/%66olders/a%3Ab')).toEqual({
      segments: ['folders', 'a:b'],
      canonical: '/folders/a%3Ab',
    });
  });

  it('refuses what a URL parser or the router would read differently', () => {
    for (const raw of ['folders', '/a%2Fb', '/a/%zz', '/a\\b', '/a b', '/a#b', '/a?b c', '/a?%', '/a\tb']) {
      expect(typeof parsePath(raw), raw).toBe('string');
    }
  });
});

describe('routeOf', () => {
  it('spells one route one way, without resolving dots the router does not resolve', () => {
    expect(routeOf('/%66olders/a%3ab')).toBe(routeOf('/folders/a:b'));
    expect(routeOf('/folders/../x')).toBe('/folders/../x');
    expect(routeOf('/folders/%zz')).toBe('/folders/%zz');
  });
});
