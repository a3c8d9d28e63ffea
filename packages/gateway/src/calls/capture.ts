/** Keeps the first `limit` bytes of a body while it streams past, and counts all of them. */
export class BodyCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  total = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    this.total += chunk.length;
    if (this.kept >= this.limit) return;
    const take = Math.min(chunk.length, this.limit - this.kept);
    this.chunks.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    this.kept += take;
  }

  /** The kept bytes, and whether the body was longer. */
  bytes(): { data: Buffer; truncated: boolean } {
    return { data: Buffer.concat(this.chunks, this.kept), truncated: this.total > this.kept };
  }
}
