import { createHash } from 'node:crypto';
import { inTransaction, type Db } from './db';

export interface AuditEntry {
  identity_id: string;
  action: string;
  path: string;
  result: 'success' | 'failure';
  extra_data?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEntry> {
  id: string;
  timestamp: string;
}

const GENESIS = '0'.repeat(64);

/** JSON with object keys sorted: jsonb hands keys back in its own order, so the hash must not depend on order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function entryHash(prev: string, e: { timestamp: string; identity_id: string; action: string; path: string; result: string; extra_data: unknown }) {
  const body = canonicalJson([prev, e.timestamp, e.identity_id, e.action, e.path, e.result, e.extra_data]);
  return createHash('sha256').update(body).digest('hex');
}

interface AuditRow {
  id: string;
  timestamp: Date;
  identity_id: string;
  action: string;
  path: string;
  result: 'success' | 'failure';
  extra_data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** Entries written under one take of the chain lock, at most. */
const DEFAULT_MAX_BATCH = 100;

interface Pending {
  entry: AuditEntry;
  settle: (error?: unknown) => void;
}

/**
 * Append-only and hash-chained: each entry's hash covers its content and its predecessor's hash.
 *
 * Appends group-commit: while one batch is being written, the entries that arrive wait and go together in
 * the next, under one take of the chain lock and one INSERT. A lone append is written at once; under load
 * the lock is taken once per batch rather than once per entry (bench/README.md).
 */
export class AuditLog {
  private pending: Pending[] = [];
  private writing = false;

  /** `maxBatch: 1` writes each entry in a transaction of its own (the benchmark's baseline). */
  constructor(private readonly db: Db, private readonly maxBatch = DEFAULT_MAX_BATCH) {}

  /** Resolves once the entry is committed; rejects if its batch could not be written. */
  append(entry: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        await this.write(batch.map((p) => p.entry));
        for (const p of batch) p.settle();
      } catch (error) {
        for (const p of batch) p.settle(error ?? new Error('audit append failed'));
      }
    }
    this.writing = false;
  }

  private async write(entries: AuditEntry[]): Promise<void> {
    await inTransaction(this.db, async (client, opened) => {
      const head = opened[0] as { hash: string | null; now: Date };
      let prev = head.hash ?? GENESIS;
      const timestamp = head.now.toISOString();
      const values: unknown[] = [];
      const tuples = entries.map((entry) => {
        // As the database will hand it back: dates as strings, undefined fields gone.
        const extra = JSON.parse(JSON.stringify(entry.extra_data ?? {})) as Record<string, unknown>;
        const hash = entryHash(prev, { ...entry, timestamp, extra_data: extra });
        const at = values.push(timestamp, entry.identity_id, entry.action, entry.path, entry.result, JSON.stringify(extra), prev, hash) - 8;
        prev = hash;
        return `(${Array.from({ length: 8 }, (_, i) => `$${at + i + 1}`).join(', ')})`;
      });
      await client.query(
        `INSERT INTO audit_log (timestamp, identity_id, action, path, result, extra_data, prev_hash, hash) VALUES ${tuples.join(', ')}`,
        values,
      );
    }, { lock: 'scaivault:audit-chain', opening: 'SELECT (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS hash, clock_timestamp() AS now' });
  }

  async query(filter: { action?: string; identity_id?: string; since?: Date; until?: Date; limit: number; before_id?: string }) {
    const { rows } = await this.db.query<AuditRow>(
      `SELECT * FROM audit_log
       WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR identity_id = $2)
         AND ($3::timestamptz IS NULL OR timestamp >= $3) AND ($4::timestamptz IS NULL OR timestamp <= $4)
         AND ($5::bigint IS NULL OR id < $5)
       ORDER BY id DESC LIMIT $6`,
      [filter.action ?? null, filter.identity_id ?? null, filter.since ?? null, filter.until ?? null, filter.before_id ?? null, filter.limit],
    );
    return rows.map(toRecord);
  }

  /** Walks the chain from the start; reports the first entry whose link or content does not check. */
  async verify(): Promise<{ valid: boolean; checked: number; first_broken_id?: string; reason?: string }> {
    let prev = GENESIS;
    let checked = 0;
    let after = '0';
    for (;;) {
      const { rows } = await this.db.query<AuditRow>('SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT 5000', [after]);
      if (rows.length === 0) return { valid: true, checked };
      for (const row of rows) {
        if (row.prev_hash !== prev) return { valid: false, checked, first_broken_id: row.id, reason: 'previous entry missing or altered' };
        const expected = entryHash(prev, { ...row, timestamp: row.timestamp.toISOString() });
        if (expected !== row.hash) return { valid: false, checked, first_broken_id: row.id, reason: 'entry content altered' };
        prev = row.hash;
        checked++;
        after = row.id;
      }
    }
  }
}

function toRecord(row: AuditRow): AuditRecord {
  const { prev_hash: _prev, hash: _hash, ...rest } = row;
  return { ...rest, timestamp: row.timestamp.toISOString() };
}
