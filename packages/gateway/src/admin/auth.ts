import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks `Authorization: Bearer <admin key>` in constant time: both sides are hashed first, so the
 * comparison takes the same time whatever the length or content of the guess.
 */
export function adminKeyChecker(key: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(key, 'utf8').digest();
  return (authorization) => {
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    const given = createHash('sha256')
      .update(match?.[1] ?? '', 'utf8')
      .digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}
