/** Small formatting helpers shared by the pages. */

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return value < 10
    ? `${value.toFixed(2)} ms`
    : value < 1000
      ? `${value.toFixed(1)} ms`
      : `${(value / 1000).toFixed(2)} s`;
}

export function percent(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return `${(value * 100).toFixed(1)} %`;
}

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : value.toLocaleString('en');
}

export function time(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 23)}Z`;
}

export function codes(byCode: Record<string, number> | undefined): string {
  if (!byCode) return '';
  return Object.entries(byCode)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
}

/** The CSS class of a status: ok, conflict (409, 412, 423, 428), client or server error. */
export function statusClass(status: number): string {
  if ([409, 412, 423, 428].includes(status)) return 'status conflict';
  if (status >= 500) return 'status server';
  if (status >= 400) return 'status client';
  return 'status ok';
}

/**
 * The overview's windows and their steps. A day is drawn by the hour: a step of whole hours reads
 * the hourly roll-ups (24 rows per route), so the overview stays fast however busy the day was.
 */
export const WINDOWS = [
  { label: 'Last 15 minutes', ms: 15 * 60_000, step: '1m' },
  { label: 'Last hour', ms: 3_600_000, step: '1m' },
  { label: 'Last 6 hours', ms: 6 * 3_600_000, step: '5m' },
  { label: 'Last day', ms: 86_400_000, step: '1h' },
] as const;
