#!/usr/bin/env node
// The `truce` command. This file is committed so that npm can link it at install time, before the
// TypeScript build exists; it loads the build, and says how to make one when there is none.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'truce: the build is missing (packages/cli/dist). Run `npm run build` in the workspace, then try again.\n',
  );
  process.exit(1);
}
await import(entry.href);
