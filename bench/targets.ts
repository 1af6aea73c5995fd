import type { Stats } from './lib/load';
import { mb, ms, rate, x, type Figure } from './scenarios/common';

/**
 * Issue 9's targets, each read from this run's figures beside the baseline of the same run: a line per
 * target whose figures the run measured (a partial run checks what it has).
 */
export function targetFigures(figures: Figure[]): Figure[] {
  const data = <T>(name: string) => figures.find((f) => f.name === name)?.data as T | undefined;
  const mint16 = data<{ api: Stats; raw: Stats }>('mint group c=16');
  const mint1 = data<{ api: Stats }>('mint group c=1');
  const bare = data<{ none: { c1: Stats; c16: Stats; machineBusy?: number } }>('temporal round trip')?.none;
  const mintBusy = data<{ cpu: { machineBusy?: number } }>('cpu mint')?.cpu.machineBusy;
  const expiring = (fits: (count: number) => boolean) =>
    figures.find((f) => /^expiry storm n=\d+$/.test(f.name) && fits(Number(f.name.split('=')[1])));
  const wave = expiring((count) => count <= 1000);
  const storm = expiring((count) => count >= 5000);
  const scale = data<{ at0: { api: Stats }; atN: { api: Stats }; live: number; live0: number }>('scale mint');
  type Memory = { worker: number; workerHeapKept: number };
  const flat = data<{ live: number; live3: number; atLive: Memory; atLive3: Memory }>('scale memory flat');

  const lines: [string, boolean, string][] = [];
  if (mint16 && bare) {
    // The machine's busy share, not the probe's CPU per op: the probe's windows are seconds long and its
    // process hosts client, worker and load at once, so its per-op CPU is too coarse to divide by.
    const busy = `; machine busy: mint ${percent(mintBusy)}, bare ${percent(bare.machineBusy)}`;
    const ratio = mint16.api.rate / bare.c16.rate;
    lines.push([
      'mint c=16 >= 0.9x bare update-with-start',
      ratio >= 0.9,
      `${rate(mint16.api.rate)}/s vs ${rate(bare.c16.rate)}/s: ${x(ratio)}${busy}`,
    ]);
  }
  if (mint16) {
    const ratio = mint16.api.rate / mint16.raw.rate;
    lines.push([
      'mint c=16 >= 0.3x raw-SQL floor',
      ratio >= 0.3,
      `${rate(mint16.api.rate)}/s vs ${rate(mint16.raw.rate)}/s: ${x(ratio)}`,
    ]);
    lines.push(['mint c=16 p99 <= 400 ms', mint16.api.p99 <= 400, `p99 ${ms(mint16.api.p99)} ms`]);
  }
  if (mint1 && bare) {
    lines.push([
      'mint c=1 p50 <= bare p50 + 10 ms',
      mint1.api.p50 <= bare.c1.p50 + 10,
      `${ms(mint1.api.p50)} ms vs ${ms(bare.c1.p50)} + 10 ms`,
    ]);
  }
  const gone = (f: Figure) => f.data as { leases: number; rolesGoneMs: number; recordedMs: number };
  if (wave) {
    const { leases, rolesGoneMs } = gone(wave);
    lines.push([`${leases} expiring in one second, gone in 10 s`, rolesGoneMs <= 10_000, `${s(rolesGoneMs)}`]);
  }
  if (storm) {
    const { leases, rolesGoneMs, recordedMs } = gone(storm);
    const slowest = Math.max(rolesGoneMs, recordedMs);
    lines.push([`${leases} expiring in one second, gone and recorded in 90 s`, slowest <= 90_000, `${s(slowest)}`]);
  }
  if (scale) {
    const ratio = scale.atN.api.rate / scale.at0.api.rate;
    lines.push([
      `mint rate at ${scale.live} live >= 0.9x at ${scale.live0}`,
      ratio >= 0.9,
      `${rate(scale.atN.api.rate)}/s vs ${rate(scale.at0.api.rate)}/s: ${x(ratio)}`,
    ]);
  }
  if (flat) {
    const ratio = flat.atLive3.worker / flat.atLive.worker;
    // "Flat": a tenth more memory for three times the leases would still be bounded by the cache.
    lines.push([
      `worker RSS flat from ${flat.live} to ${flat.live3} live`,
      ratio <= 1.1,
      `${x(ratio)} for ${x(flat.live3 / flat.live)} the leases`,
    ]);
    const kept = flat.atLive3.workerHeapKept / flat.atLive.workerHeapKept;
    lines.push([
      `worker JS heaps kept after a full collection flat from ${flat.live} to ${flat.live3} live`,
      kept <= 1.1,
      `${x(kept)} (${mb(flat.atLive3.workerHeapKept)} vs ${mb(flat.atLive.workerHeapKept)})`,
    ]);
  }
  return lines.map(([target, met, measured]) => ({
    name: `target ${target}`,
    line: `target ${met ? 'met    ' : 'NOT MET'} ${target}: ${measured}`,
    data: { target, met, measured },
  }));
}

const percent = (share?: number) => (share === undefined ? '-' : `${Math.round(share * 100)}%`);
const s = (milliseconds: number) => `${(milliseconds / 1000).toFixed(1)} s`;
