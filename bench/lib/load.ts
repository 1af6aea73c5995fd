import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** What one timed run produced: every latency in ms, the errors, and the wall time it took. */
export interface RunResult {
  ops: number;
  errors: number;
  elapsedMs: number;
  latencies: number[];
  firstError?: string;
  /** The run ended early on `giveUpAfterErrors` failures in a row. */
  gaveUp?: boolean;
}

export interface Stats {
  ops: number;
  errors: number;
  rate: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function stats(run: RunResult): Stats {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    ops: run.ops,
    errors: run.errors,
    rate: run.ops / (run.elapsedMs / 1000),
    mean: sum / Math.max(sorted.length, 1),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
  };
}

/** Several runs of the same thing (alternated with their baseline) as one. */
export function merge(runs: RunResult[]): RunResult {
  return {
    ops: runs.reduce((a, r) => a + r.ops, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    elapsedMs: runs.reduce((a, r) => a + r.elapsedMs, 0),
    latencies: runs.flatMap((r) => r.latencies),
    firstError: runs.find((r) => r.firstError)?.firstError,
  };
}

/**
 * Runs `op` from `concurrency` loops until `durationMs` passes or `maxOps` have started. Only successful
 * operations count toward `ops` and the latencies; failures are counted and the first one kept. With
 * `pacingMs`, each loop starts an operation at most every `pacingMs` (an offered rate, not a closed loop).
 * With `giveUpAfterErrors`, that many failures in a row end the run (`gaveUp`): a dead process behind the
 * API turns every call into a 30 s timeout, and a long fill would otherwise wait on it for hours.
 */
export async function runLoad(
  op: (i: number) => Promise<void>,
  options: { concurrency: number; durationMs?: number; maxOps?: number; pacingMs?: number; giveUpAfterErrors?: number },
): Promise<RunResult> {
  const deadline = performance.now() + (options.durationMs ?? Infinity);
  const maxOps = options.maxOps ?? Infinity;
  const latencies: number[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  let failuresInARow = 0;
  let gaveUp = false;
  const t0 = performance.now();
  const loop = async () => {
    while (!gaveUp && started < maxOps && performance.now() < deadline) {
      const i = started++;
      const begin = performance.now();
      try {
        await op(i);
        latencies.push(performance.now() - begin);
        failuresInARow = 0;
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        if (++failuresInARow >= (options.giveUpAfterErrors ?? Infinity)) gaveUp = true;
      }
      const idle = (options.pacingMs ?? 0) - (performance.now() - begin);
      if (idle > 0) await sleep(idle);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  return { ops: latencies.length, errors, elapsedMs: performance.now() - t0, latencies, firstError, gaveUp };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** An API answer: its status, and its JSON body (or text, when the body is not JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each route's JSON differs; callers read its fields
export type Answer = { status: number; body: any };

/** A JSON call over a keep-alive connection (cheaper per call than fetch, so the client adds little). */
export function call(baseUrl: string, method: string, path: string, token: string, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const request = http.request(
      baseUrl + path,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* not JSON */
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
