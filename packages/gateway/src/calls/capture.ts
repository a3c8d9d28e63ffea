import { createHash, type Hash } from 'node:crypto';

/**
 * Keeps the first `limit` bytes of a body while it streams past, and counts all of them. With
 * `hash`, it also hashes the whole body as it passes (the call log's retry detection compares them).
 */
export class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Made at the first byte: most calls (GET) have no body, and a Hash costs a few µs to create. */
  private hasher: Hash | undefined;
  total = 0;

  constructor(
    private readonly limit: number,
    private readonly hash = false,
  ) {}

  add(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.hash) (this.hasher ??= createHash('sha256')).update(chunk);
    if (this.kept >= this.limit) return;
    const take = Math.min(chunk.length, this.limit - this.kept);
    this.chunks.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    this.kept += take;
  }

  /** The kept bytes, and whether the body was longer. */
  bytes(): { data: Buffer; truncated: boolean } {
    return { data: Buffer.concat(this.chunks, this.kept), truncated: this.total > this.kept };
  }

  /** The SHA-256 of every byte seen (base64url, 22 characters: 128 bits are plenty); null for no body. */
  digest(): string | null {
    return this.hasher && this.total > 0 ? this.hasher.digest('base64url').slice(0, 22) : null;
  }
}
