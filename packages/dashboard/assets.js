// The dashboard's built files (`npm run build` writes them to dist/), for the gateway's admin port
// to serve. Read once into memory with their gzip forms, so serving them touches no file system
// path a request could steer.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
};

/** The folder the build writes to. */
export const dashboardDir = fileURLToPath(new URL('./dist/', import.meta.url));

/** Every built file by its URL path (`/`, `/assets/app.js`), or undefined when the dashboard is not built. */
export function loadDashboard(dir = dashboardDir) {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map();
  const walk = (folder) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const dot = name.lastIndexOf('.');
      const type = TYPES[dot < 0 ? '' : name.slice(dot)];
      if (!type) continue;
      const body = readFileSync(path);
      const url = `/${relative(dir, path).split(sep).join('/')}`;
      const gzip = type.startsWith('image/png') ? undefined : gzipSync(body, { level: 9 });
      files.set(url === '/index.html' ? '/' : url, { type, body, gzip });
    }
  };
  walk(dir);
  return files;
}
