/**
 * A plain RFC 9110 server: JSON documents with strong ETags, `If-Match` and `If-None-Match`, and
 * nothing of Truce (no problem documents, no `Truce-Base`, no Idempotency-Key, no OpenAPI). The SDK
 * must work with any such server: `update` falls back to `If-Match` and merges on the client.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PlainServer {
  readonly url: string;
  /** Documents by path, with their version. */
  readonly docs: Map<string, { version: number; doc: Record<string, unknown> }>;
  /** Requests by method and path, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

export async function startPlainServer(): Promise<PlainServer> {
  const docs = new Map<string, { version: number; doc: Record<string, unknown> }>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      requests.push(`${req.method} ${path}`);
      const entry = docs.get(path);
      const etag = entry ? `"v${entry.version}"` : undefined;
      if (req.method === 'GET') {
        if (!entry) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag }).end();
        return void res
          .writeHead(200, { 'content-type': 'application/json', etag })
          .end(JSON.stringify(entry.doc));
      }
      if (req.method === 'PUT') {
        // RFC 9110 13.1.1: If-Match with no current representation, or a different tag, is false.
        const ifMatch = req.headers['if-match'];
        if (ifMatch !== undefined && ifMatch !== etag) return void res.writeHead(412).end();
        const next = {
          version: (entry?.version ?? 0) + 1,
          doc: JSON.parse(Buffer.concat(chunks).toString()),
        };
        docs.set(path, next);
        res.writeHead(entry ? 200 : 201, { 'content-type': 'application/json', etag: `"v${next.version}"` });
        return void res.end(JSON.stringify(next.doc));
      }
      res.writeHead(405, { allow: 'GET, PUT' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    docs,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
