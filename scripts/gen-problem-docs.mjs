#!/usr/bin/env node
// Writes docs/problems.md from the problem registry (run after a build: npm run docs:problems).
import { writeFileSync } from 'node:fs';
import { problemsMarkdown } from '../packages/protocol/dist/index.js';

writeFileSync(new URL('../docs/problems.md', import.meta.url), problemsMarkdown());
console.log('docs/problems.md written');
