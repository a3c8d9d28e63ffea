import { isProblemCode, problemTypes, type ProblemType } from './problems.js';

/** A rendered documentation page for one problem type. */
export interface ProblemPage {
  readonly type: string;
  readonly body: string;
}

/**
 * The documentation a problem `type` URI dereferences to: HTML for people, the registry entry as
 * JSON when the client prefers JSON. Both come from the one registry in `@truce/protocol`.
 */
export function problemDocumentation(code: string, accept: string | undefined): ProblemPage | undefined {
  if (!isProblemCode(code)) return undefined;
  const entry = problemTypes[code];
  if (prefersJson(accept)) {
    return { type: 'application/json; charset=utf-8', body: JSON.stringify(entry) };
  }
  return { type: 'text/html; charset=utf-8', body: renderHtml(entry) };
}

/**
 * `docs/problems.md`, rendered from the registry: `npm run docs:problems` writes it and a test
 * checks the committed file is current, so the registry, the docs and `/_problems/{code}` agree.
 */
export function problemsMarkdown(): string {
  const entries = Object.values(problemTypes) as ProblemType[];
  const lines = [
    '# Problem types',
    '',
    '<!-- Generated from packages/protocol/src/problem-registry.ts by `npm run docs:problems`; do not edit. -->',
    '',
    'Every error body is `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail`,',
    '`instance`, `code`, `retryable` and `resolution`, plus the extension members of its code. `type` is',
    '`/_problems/{code}` (configurable with `problemTypeBase`); the server serves each page there, as HTML or,',
    'when the client prefers it, as JSON. `retryable` is true only when the identical request may succeed later',
    'without change; conflicts are never blindly re-sent.',
    '',
    '| code | status | resolution | retryable | title |',
    '|---|---|---|---|---|',
    ...entries.map(
      (e) =>
        `| [\`${e.code}\`](#${e.code}) | ${e.status} | \`${e.resolution}\` | ${e.retryable ? 'yes' : 'no'} | ${e.title} |`,
    ),
  ];
  for (const e of entries) {
    lines.push('', `## ${e.code}`, '', `**${e.status} ${e.title}.** ${e.summary}`, '', e.description, '');
    lines.push(`- resolution: \`${e.resolution}\`; retryable: ${e.retryable ? 'yes' : 'no'}`);
    if (e.members.length > 0)
      lines.push(`- extension members: ${e.members.map((m) => `\`${m}\``).join(', ')}`);
    if (e.headers?.length) lines.push(`- headers: ${e.headers.map((h) => `\`${h}\``).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function prefersJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const json = /application\/(problem\+)?json/i.test(accept);
  const html = /text\/html/i.test(accept);
  return json && !html;
}

function renderHtml(entry: ProblemType): string {
  const members = entry.members.length
    ? `<h2>Extension members</h2><ul>${entry.members.map((m) => `<li><code>${esc(m)}</code></li>`).join('')}</ul>`
    : '';
  const headers = entry.headers?.length
    ? `<h2>Response headers</h2><ul>${entry.headers.map((h) => `<li><code>${esc(h)}</code></li>`).join('')}</ul>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(entry.code)}: ${esc(entry.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}dt{font-weight:600}</style>
</head><body>
<h1><code>${esc(entry.code)}</code>: ${esc(entry.title)}</h1>
<p>${prose(entry.summary)}</p>
<dl><dt>Status</dt><dd>${entry.status}</dd><dt>Retryable</dt><dd>${entry.retryable ? 'yes' : 'no'}</dd>
<dt>Resolution</dt><dd><code>${esc(entry.resolution)}</code></dd></dl>
<h2>What to do</h2><p>${prose(entry.description)}</p>
${members}${headers}
</body></html>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Escaped text with the registry's `code` spans shown as code. */
function prose(s: string): string {
  return esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');
}
