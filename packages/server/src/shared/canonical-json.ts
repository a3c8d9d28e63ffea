/**
 * JSON with object keys sorted, so that key order does not make a retry look like another request
 * (the Idempotency-Key fingerprint, resources/idempotency.ts). Members whose value is `undefined`
 * are left out, as JSON.stringify leaves them out. The text is stored (hashed) with every key: it
 * must stay byte for byte what it has been, or a retry across an upgrade would get 422.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // A hole stays empty, as Array.prototype.join renders it (parsed JSON has none).
      if (i in value) out += canonicalJson(value[i]);
    }
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, the order `<` gives strings.
  const keys = Object.keys(object).sort();
  let out = '{';
  for (const key of keys) {
    const member = object[key];
    if (member === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}
