/**
 * The resource key of a request (SPEC 5.1 `resourceKey`): a template over the upstream path such as
 * `/{collection}/{id}`, where each placeholder takes one segment. A path with fewer segments than
 * the template, or a placeholder that would take a segment starting with `_` (Truce's service
 * routes: `/_batch`, `/{c}/_changes`), has no resource key. Segments past the template belong to
 * the same resource (`/orders/7/_transitions/pay` is `/orders/7`).
 */
export function compileResourceKey(template: string): (path: string) => string | null {
  const parts = template.split('/').slice(1);
  const placeholder = parts.map((p) => /^\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(p));
  return (path: string) => {
    const segments = path.split('/').slice(1);
    if (segments.length < parts.length) return null;
    const out: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const segment = segments[i]!;
      if (placeholder[i]) {
        if (segment === '' || segment.startsWith('_')) return null;
        out.push(segment);
      } else if (segment !== parts[i]) {
        return null;
      } else {
        out.push(segment);
      }
    }
    return `/${out.join('/')}`;
  };
}
