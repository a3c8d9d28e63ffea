import { readFileSync } from 'node:fs';
import { problemTypes } from '@truce/protocol';
import { problemsMarkdown } from '@truce/server';
import { describe, expect, it } from 'vitest';

describe('problem registry, docs and /_problems stay in step', () => {
  it('docs/problems.md is the rendering of the registry (run npm run docs:problems after changing it)', () => {
    const committed = readFileSync(new URL('../docs/problems.md', import.meta.url), 'utf8');
    expect(committed).toBe(problemsMarkdown());
  });

  it('documents every code, with its status and members', () => {
    const md = problemsMarkdown();
    for (const entry of Object.values(problemTypes)) {
      expect(md).toContain(`## ${entry.code}\n`);
      expect(md).toContain(`**${entry.status} ${entry.title}.**`);
      for (const member of entry.members) expect(md).toContain(`\`${member}\``);
    }
  });
});
