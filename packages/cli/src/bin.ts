#!/usr/bin/env node
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`truce: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
