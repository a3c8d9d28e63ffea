import { randomBytes } from 'node:crypto';

/**
 * Resource ids travel in one path segment, so they are limited to characters that never need
 * escaping and cannot be confused with the server's own `_` routes or with dot segments.
 */
const ID_PATTERN = /^[A-Za-z0-9.~-][A-Za-z0-9._~:@-]{0,199}$/;

/** Why an id is refused, or undefined when it is acceptable. */
export function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return 'an id must be a string';
  if (id === '') return 'an id may not be empty';
  if (id.startsWith('_'))
    return `id "${truncate(id)}" may not start with "_": such paths belong to the server`;
  if (id.includes('/')) return `id "${truncate(id)}" may not contain "/"`;
  if (id === '.' || id === '..') return `id "${id}" is a dot segment`;
  if (id.length > 200) return 'an id may have at most 200 characters';
  if (!ID_PATTERN.test(id)) {
    return `id "${truncate(id)}" may only contain letters, digits and . _ ~ : @ - (and may not start with _ : @)`;
  }
  return undefined;
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = 0;
let lastRandom: Uint8Array = new Uint8Array(10);

/**
 * A new server id: 26 characters of Crockford base32, 48 bits of time then 80 random bits, so ids
 * sort by creation time (SPEC 3.2). Within one millisecond the random part is incremented instead
 * of redrawn, which keeps ids from one process strictly increasing.
 */
export function newId(now: number = Date.now()): string {
  let random: Uint8Array;
  if (now <= lastTime) {
    random = increment(lastRandom);
    now = lastTime;
  } else {
    random = randomBytes(10);
  }
  lastTime = now;
  lastRandom = random;
  let out = '';
  let time = now;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[time % 32]! + out;
    time = Math.floor(time / 32);
  }
  // 80 random bits = 16 base32 digits of 5 bits.
  let bits = 0;
  let acc = 0;
  for (const byte of random) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(acc >> (bits - 5)) & 31]!;
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

function increment(bytes: Uint8Array): Uint8Array {
  const next = new Uint8Array(bytes);
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 255) {
      next[i]! += 1;
      return next;
    }
    next[i] = 0;
  }
  return randomBytes(10); // all 80 bits overflowed in one millisecond: practically unreachable
}
