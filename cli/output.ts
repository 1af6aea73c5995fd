import { InvalidArgumentError } from 'commander';
import { ScaiVaultError } from '../client';
import { UsageError } from './env';

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const cell = (value: unknown): string => {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length ? value.map(cell).join(',') : '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
};

/** Rows under upper-cased headings, columns padded to their widest cell. */
export function printTable(rows: Array<Record<string, unknown>>, columns: string[]) {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((row) => columns.map((c) => cell(row[c])))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  for (const line of cells)
    process.stdout.write(
      `${line.map((text, i) => (i === line.length - 1 ? text : text.padEnd(widths[i]!))).join('  ')}\n`,
    );
}

/** One "key  value" line per field. */
export function printFields(fields: Record<string, unknown>) {
  printTable(
    Object.entries(fields).map(([key, value]) => ({ key, value: cell(value) })),
    ['key', 'value'],
  );
}

export const printWarnings = (warnings: string[] | undefined) =>
  warnings?.forEach((w) => process.stderr.write(`warning: ${w}\n`));

/** The API's message, and what to do about it when the cause is the CLI's setup. */
export function describeError(error: unknown): string {
  if (error instanceof UsageError) return `Error: ${error.message}`;
  if (error instanceof ScaiVaultError) {
    const hint =
      error.code === 'unreachable'
        ? '\nIs the server running? Point SCAIVAULT_ADDR at it: export SCAIVAULT_ADDR=http://127.0.0.1:8200'
        : error.code === 'unauthorized'
          ? '\nCheck SCAIVAULT_TOKEN: it must be a live ScaiVault token.'
          : '';
    const where = error.requestId ? ` [${error.code}, request ${error.requestId}]` : ` [${error.code}]`;
    return `Error: ${error.message}${where}${hint}`;
  }
  return `Error: ${error instanceof Error ? error.message : String(error)}`;
}

/** A commander option parser for a whole number of at least 1. */
export const positiveInt = (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be a positive whole number');
  return Number(value);
};
