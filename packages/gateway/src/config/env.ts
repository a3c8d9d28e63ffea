/**
 * `${NAME}` and `${NAME:-default}` in configuration values (SPEC 5.1). Substitution runs over every
 * string of the parsed document before it is validated, so a variable can hold any value; a
 * variable that is unset and has no default is reported with the path of the value that names it.
 */

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** A value that named an unset variable. */
export interface UnsetVariable {
  readonly pointer: string;
  readonly name: string;
}

/** The document with every reference replaced, and the references that could not be. */
export function substituteEnv(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  pointer = '',
  unset: UnsetVariable[] = [],
): { value: unknown; unset: UnsetVariable[] } {
  return { value: walk(value, env, pointer, unset), unset };
}

function walk(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  pointer: string,
  unset: UnsetVariable[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      unset.push({ pointer, name });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => walk(item, env, `${pointer}/${i}`, unset));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const escaped = key.replaceAll('~', '~0').replaceAll('/', '~1');
      Object.defineProperty(out, key, {
        value: walk(item, env, `${pointer}/${escaped}`, unset),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
