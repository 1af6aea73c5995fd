import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * `node --import tsx bench/go-perf-top.ts <go binary> <perf.data>... [--vs=<perf.data>,...] [--leases=<n>,<m>]
 * [--top=<n>]`: the self and inclusive shares of each function in `perf record -g` samples of a Go program.
 * The Temporal CLI's binary is stripped of its symbol table, so perf cannot name its frames; Go's own
 * `.gopclntab`, which every Go binary keeps for its stack traces, still maps each address to its function.
 * Several files are summed. With `--vs=<files>`: the functions whose samples differ most from those files'
 * (a lever's candidate against its baseline; `--leases` when the two sides served different numbers).
 */

/** Function entries as file offsets (ascending) and names from `.gopclntab` (the layout of Go 1.18 and later). */
function goFunctions(binary: string): { entries: bigint[]; names: string[] } {
  const elf = readFileSync(binary);
  const sectionTable = Number(elf.readBigUInt64LE(0x28));
  const [entrySize, count, namesIndex] = [elf.readUInt16LE(0x3a), elf.readUInt16LE(0x3c), elf.readUInt16LE(0x3e)];
  const sections = Array.from({ length: count }, (_, i) => {
    const at = sectionTable + i * entrySize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 24)) };
  });
  const cString = (buffer: Buffer, at: number) => buffer.toString('latin1', at, buffer.indexOf(0, at));
  const section = (name: string) => sections.find((s) => cString(elf, sections[namesIndex]!.offset + s.name) === name);
  const pcln = section('.gopclntab');
  if (!pcln) throw new Error(`${binary} has no .gopclntab: not a Go binary`);
  const table = elf.subarray(pcln.offset);
  const magic = table.readUInt32LE(0);
  if (magic !== 0xfffffff0 && magic !== 0xfffffff1) throw new Error(`unknown .gopclntab version ${magic.toString(16)}`);
  const word = (i: number) => Number(table.readBigUInt64LE(8 + i * 8));
  const [functionCount, nameTable, functionTable] = [word(0), word(3), word(7)];
  // Entries are offsets from the start of the code; perf prints a binary's addresses as offsets into its file.
  const textStart = BigInt(section('.text')!.offset);
  const entries: bigint[] = [];
  const names: string[] = [];
  for (let i = 0; i < functionCount; i++) {
    const entry = table.readUInt32LE(functionTable + i * 8);
    const info = functionTable + table.readUInt32LE(functionTable + i * 8 + 4);
    entries.push(textStart + BigInt(entry));
    names.push(cString(table, nameTable + table.readInt32LE(info + 4)));
  }
  return { entries, names };
}

function nameOf({ entries, names }: ReturnType<typeof goFunctions>, pc: bigint): string {
  let [low, high] = [0, entries.length - 1];
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (entries[mid]! <= pc) low = mid;
    else high = mid - 1;
  }
  return entries[low]! <= pc ? names[low]! : '?';
}

const args = process.argv.slice(2);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const top = Number(option('top')) || 40;
const [binary, ...files] = args.filter((a) => !a.startsWith('--'));
if (!binary || files.length === 0) {
  console.error(
    'usage: bench/go-perf-top.ts <go binary> <perf.data>... [--vs=<perf.data>,...] [--leases=<n>,<m>] [--top=<n>]',
  );
  process.exit(2);
}
const functions = goFunctions(binary);

interface Counts {
  samples: number;
  self: Map<string, number>;
  inclusive: Map<string, number>;
}

function countSamples(paths: string[]): Counts {
  const counts: Counts = { samples: 0, self: new Map(), inclusive: new Map() };
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  for (const file of paths) {
    const script = execFileSync('perf', ['script', '-i', file, '-F', 'ip,sym,dso'], {
      maxBuffer: 1 << 30,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    for (const sample of script.split(/\n\s*\n/)) {
      const frames = sample
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((parts) => /^[0-9a-f]+$/.test(parts[0] ?? ''))
        .map(([ip, ...rest]) => {
          const dso = rest.at(-1) ?? '';
          return dso.includes('kernel') || !rest.join(' ').includes('unknown')
            ? `${rest.slice(0, -1).join(' ') || ip} ${dso}`
            : nameOf(functions, BigInt(`0x${ip}`));
        });
      if (frames.length === 0) continue;
      counts.samples++;
      add(counts.self, frames[0]!);
      for (const frame of new Set(frames)) add(counts.inclusive, frame);
    }
  }
  return counts;
}

const candidate = countSamples(files);
const baselineFiles = option('vs')?.split(',');
if (!baselineFiles) {
  const share = (n: number) => `${((n * 100) / candidate.samples).toFixed(1).padStart(5)}%`;
  const list = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, n]) => `${share(n)} ${n.toString().padStart(7)}  ${name}`)
      .join('\n');
  console.log(
    `${candidate.samples} samples\n--- self\n${list(candidate.self)}\n--- inclusive\n${list(candidate.inclusive)}`,
  );
} else {
  // Samples are CPU time: with as many leases on both sides, the difference in samples is the extra cost.
  const baseline = countSamples(baselineFiles);
  // `--leases=<candidate's>,<baseline's>`: sides of different sizes, the baseline's counts scaled to the candidate's.
  const [leases, baselineLeases] = (option('leases') ?? '1,1').split(',').map(Number) as [number, number];
  const scale = (counts: Map<string, number>) =>
    new Map([...counts].map(([name, n]) => [name, Math.round((n * leases) / baselineLeases)]));
  baseline.samples = Math.round((baseline.samples * leases) / baselineLeases);
  baseline.self = scale(baseline.self);
  baseline.inclusive = scale(baseline.inclusive);
  const of = (base: number) => `${((base * 100) / baseline.samples).toFixed(1).padStart(5)}% of baseline`;
  const diff = (kind: 'self' | 'inclusive') =>
    [...new Set([...candidate[kind].keys(), ...baseline[kind].keys()])]
      .map((name) => [name, candidate[kind].get(name) ?? 0, baseline[kind].get(name) ?? 0] as const)
      .sort((a, b) => Math.abs(b[1] - b[2]) - Math.abs(a[1] - a[2]))
      .slice(0, top)
      .map(
        ([name, c, b]) => `${(c - b >= 0 ? '+' : '') + (c - b)}`.padStart(7) + ` ${c} vs ${b} (${of(c - b)})  ${name}`,
      )
      .join('\n');
  console.log(
    `${candidate.samples} samples against ${baseline.samples} (${of(candidate.samples - baseline.samples)})\n` +
      `--- self\n${diff('self')}\n--- inclusive\n${diff('inclusive')}`,
  );
}
