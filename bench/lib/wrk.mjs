// Load from wrk (or autocannon, when wrk cannot be had) for the gateway bench: one wrk thread, N keep-alive connections, one request in
// flight on each, for whole seconds. A Lua `done` hook prints the slice's counts and its latency
// distribution as 1,000 quantiles (microseconds), so that slices of one side can be merged into
// one distribution (each quantile point weighted by its slice's requests) instead of averaging
// percentiles. CPU time of the processes under test is read from /proc around each slice.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';

const SCRIPT = `
local paths = nil
init = function(args)
  if #args > 0 then
    paths = {}
    for i = 0, tonumber(args[1]) - 1 do paths[#paths + 1] = args[2] .. i end
  end
end
local n = 0
request = function()
  if paths == nil then return wrk.format() end
  n = n + 1
  return wrk.format(nil, paths[(n % #paths) + 1])
end
done = function(summary, latency, requests)
  local q = {}
  for i = 1, 1000 do q[i] = string.format("%d", latency:percentile(i / 10)) end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"q":[%s]}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, table.concat(q, ",")))
end
`;

/** Writes the Lua script into `dir` once; returns its path. */
export function wrkScript(dir) {
  const path = join(dir, 'bench.lua');
  writeFileSync(path, SCRIPT);
  return path;
}

/**
 * One slice of load. `paths` (optional): `{ count, prefix }` to spread requests over
 * `prefix0` ... `prefix{count-1}`, round-robin; otherwise every request is a GET of `url`.
 * @returns {Promise<{ requests: number, durationSec: number, errors: number, non2xx: number, q: number[] }>}
 */
export function wrkSlice({ wrk, script, url, connections, seconds, headers = {}, paths }) {
  if (!wrk) return autocannonSlice({ url, connections, seconds, headers, paths });
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  args.push(url);
  if (paths) args.push('--', String(paths.count), paths.prefix);
  return new Promise((resolve, reject) => {
    execFile(wrk, args, { maxBuffer: 1 << 24, timeout: (seconds + 30) * 1000 }, (error, stdout, stderr) => {
      const line = stdout.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (error || !line) {
        reject(new Error(`wrk failed: ${error?.message ?? ''} ${stderr.trim()} ${stdout.slice(0, 500)}`));
        return;
      }
      const r = JSON.parse(line.slice(8));
      resolve({
        requests: r.requests,
        durationSec: r.durationUs / 1e6,
        errors: r.connect + r.read + r.write + r.timeout,
        non2xx: r.status,
        q: r.q,
      });
    });
  });
}

/** Percentile points autocannon reports, as [percent, key]. */
const AUTOCANNON_POINTS = [
  [0.001, 'p0_001'],
  [0.01, 'p0_01'],
  [0.1, 'p0_1'],
  [1, 'p1'],
  [2.5, 'p2_5'],
  [10, 'p10'],
  [25, 'p25'],
  [50, 'p50'],
  [75, 'p75'],
  [90, 'p90'],
  [97.5, 'p97_5'],
  [99, 'p99'],
  [99.9, 'p99_9'],
  [99.99, 'p99_99'],
  [99.999, 'p99_999'],
];

/**
 * The fallback when wrk cannot be had: autocannon in this process (it then shares the CPUs with
 * the sides as wrk would, but costs more CPU per request). Its latency comes as a few percentiles
 * in milliseconds; the 1,000 quantiles are interpolated between them (coarser than wrk's).
 */
async function autocannonSlice({ url, connections, seconds, headers, paths }) {
  let n = 0;
  const raw = await autocannon({
    url,
    connections,
    duration: seconds,
    pipelining: 1,
    timeout: 10,
    headers,
    ...(paths && {
      requests: [{ setupRequest: (req) => ({ ...req, path: `${paths.prefix}${n++ % paths.count}` }) }],
    }),
  });
  const known = [
    [0, raw.latency.min],
    ...AUTOCANNON_POINTS.map(([p, k]) => [p, raw.latency[k]]),
    [100, raw.latency.max],
  ];
  const q = [];
  for (let i = 1; i <= 1000; i++) {
    const p = i / 10;
    const j = known.findIndex(([kp]) => kp >= p);
    const [p1, v1] = known[Math.max(0, j - 1)];
    const [p2, v2] = known[j];
    const v = p2 === p1 ? v2 : v1 + ((v2 - v1) * (p - p1)) / (p2 - p1);
    q.push(Math.round(v * 1000));
  }
  return {
    requests: raw.requests.total,
    durationSec: raw.duration,
    errors: raw.errors + raw.timeouts,
    non2xx: raw.non2xx,
    q,
  };
}

/**
 * Slices of one side merged: requests over measured seconds, and percentiles of the merged
 * distribution (every slice's 1,000 quantile points, each standing for requests / 1,000), in ms.
 */
export function mergeSlices(slices) {
  const requests = slices.reduce((s, x) => s + x.requests, 0);
  const durationSec = slices.reduce((s, x) => s + x.durationSec, 0);
  const points = [];
  for (const s of slices) for (const us of s.q) points.push([us, s.requests / s.q.length]);
  points.sort((a, b) => a[0] - b[0]);
  const at = (p) => {
    const want = (p / 100) * requests;
    let seen = 0;
    for (const [us, w] of points) {
      seen += w;
      if (seen >= want) return us / 1000;
    }
    return (points.at(-1)?.[0] ?? 0) / 1000;
  };
  const ms = (v) => Number(v.toFixed(3));
  return {
    requestsPerSec: requests / durationSec,
    requests,
    durationSec: Number(durationSec.toFixed(2)),
    slices: slices.map((s) => Math.round(s.requests / s.durationSec)),
    latencyMs: { p50: ms(at(50)), p90: ms(at(90)), p99: ms(at(99)), max: ms(at(100)) },
    errors: slices.reduce((s, x) => s + x.errors, 0),
    non2xx: slices.reduce((s, x) => s + x.non2xx, 0),
  };
}

/** CPU seconds (user + system) used so far by these processes and, for nginx, its workers. */
export function cpuSeconds(pids) {
  const ticks = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of allPids(pids)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      // Gone.
    }
  }
  return total;
}

function allPids(pids) {
  const out = [];
  for (const pid of pids) {
    out.push(pid);
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      if (children) out.push(...children.split(' ').map(Number));
    } catch {
      // No such process.
    }
  }
  return out;
}

/** Resident set size of a process, and its peak, in MB (from /proc/<pid>/status). */
export function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}
