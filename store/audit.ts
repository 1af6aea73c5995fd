import { createHash } from 'node:crypto';
import pg from 'pg';
import type { AuditCheckpoint } from '../lib/audit-checkpoint';
import type { Keyring } from '../lib/keyring';
import { inStoreTransaction, type Db, type Queryable, type Tx } from './db';

export interface AuditEntry {
  identity_id: string;
  action: string;
  path: string;
  result: 'success' | 'failure';
  extra_data?: Record<string, unknown>;
  /**
   * Names the event once (e.g. `lease:<id>:expire`): an append whose key is already in the log writes
   * nothing, so an activity retried after its entry committed does not record the event twice.
   */
  idempotency_key?: string;
}

export interface AuditRecord extends Required<Omit<AuditEntry, 'idempotency_key'>> {
  id: string;
  timestamp: string;
}

const GENESIS = '0'.repeat(64);
const CHAIN_LOCK = 'scaivault:audit-chain';

/** JSON with object keys sorted: jsonb hands keys back in its own order, so the hash must not depend on order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export interface Linked {
  timestamp: string;
  identity_id: string;
  action: string;
  path: string;
  result: string;
  extra_data: unknown;
  idempotency_key?: string | null;
}

const linkBody = (prev: string, e: Linked) =>
  canonicalJson([
    prev,
    e.timestamp,
    e.identity_id,
    e.action,
    e.path,
    e.result,
    e.extra_data,
    ...(e.idempotency_key ? [e.idempotency_key] : []),
  ]);
/** Entries written before the chain was keyed: a plain SHA-256, which anyone who can write the table can recompute. */
export const unkeyedHash = (prev: string, e: Linked) => createHash('sha256').update(linkBody(prev, e)).digest('hex');
const checkpointBody = (c: Pick<AuditCheckpoint, 'last_id' | 'hash' | 'at'>) =>
  canonicalJson(['audit-checkpoint', c.last_id, c.hash, c.at]);

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
  key_id: string | null;
  idempotency_key: string | null;
}

/** Entries written under one take of the chain lock, at most. */
const DEFAULT_MAX_BATCH = 100;

interface Pending {
  entry: AuditEntry;
  settle: (error?: unknown) => void;
}

export interface VerifyResult {
  valid: boolean;
  checked: number;
  first_broken_id?: string;
  reason?: string;
  /** The newest checkpoint the chain was compared against, if one was found. */
  checkpoint?: Omit<AuditCheckpoint, 'mac' | 'key_id'>;
}

/** The entries' idempotency keys as SQL literals (`NULL` for none, which matches nothing). */
const keysOf = (entries: AuditEntry[]) =>
  entries.flatMap((e) => (e.idempotency_key === undefined ? [] : [pg.escapeLiteral(e.idempotency_key)])).join(', ') ||
  'NULL';

/** The entries whose idempotency key is neither in the log nor earlier in the same batch. */
function withoutRecorded(entries: AuditEntry[], recorded: string[]): AuditEntry[] {
  const seen = new Set(recorded);
  return entries.filter((e) => {
    if (e.idempotency_key === undefined) return true;
    if (seen.has(e.idempotency_key)) return false;
    seen.add(e.idempotency_key);
    return true;
  });
}

/**
 * Append-only and chained: each entry's hash is an HMAC, under a key derived from the master key, of its
 * content and its predecessor's hash, so rewriting an entry needs the key as well as the table. Signed
 * checkpoints of the chain's head, kept outside the table (`checkpoint()`), show a cut-off tail.
 *
 * Appends group-commit: while one batch is being written, the entries that arrive wait and go together in
 * the next, under one take of the chain lock and one INSERT. A lone append is written at once; under load
 * the lock is taken once per batch rather than once per entry (bench/README.md). `appendIn` writes inside
 * a caller's transaction instead, so a change and its entry commit or roll back together.
 */
export class AuditLog {
  private pending: Pending[] = [];
  private writing = false;

  /** `maxBatch: 1` writes each entry in a transaction of its own (the benchmark's baseline). */
  constructor(
    private readonly db: Db,
    private readonly keys: Keyring,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
  ) {}

  /** Resolves once the entry is committed; rejects if its batch could not be written. */
  append(entry: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, settle: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.writing) void this.drain();
    });
  }

  /** Writes the entries inside `tx`: they commit with the caller's change, or neither does. */
  appendIn(tx: Tx, ...entries: AuditEntry[]): Promise<void> {
    return this.write(tx, entries);
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        await this.write(
          this.db,
          batch.map((p) => p.entry),
        );
        for (const p of batch) p.settle();
      } catch (error) {
        for (const p of batch) p.settle(error ?? new Error('audit append failed'));
      }
    }
    this.writing = false;
  }

  private async write(q: Queryable, entries: AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await inStoreTransaction(
      q,
      async (client, opened) => {
        const head = opened[0] as { hash: string | null; now: Date; recorded: string[] };
        const fresh = withoutRecorded(entries, head.recorded);
        if (fresh.length === 0) return;
        let prev = head.hash ?? GENESIS;
        const timestamp = head.now.toISOString();
        const keyId = this.keys.activeKeyId;
        const values: unknown[] = [];
        const tuples = fresh.map((entry) => {
          // As the database will hand it back: dates as strings, undefined fields gone.
          const extra = JSON.parse(JSON.stringify(entry.extra_data ?? {})) as Record<string, unknown>;
          const hash = this.keys.mac(linkBody(prev, { ...entry, timestamp, extra_data: extra }), keyId).mac;
          const at =
            values.push(
              timestamp,
              entry.identity_id,
              entry.action,
              entry.path,
              entry.result,
              JSON.stringify(extra),
              prev,
              hash,
              keyId,
              entry.idempotency_key ?? null,
            ) - 10;
          prev = hash;
          return `(${Array.from({ length: 10 }, (_, i) => `$${at + i + 1}`).join(', ')})`;
        });
        await client.query(
          'INSERT INTO audit_log (timestamp, identity_id, action, path, result, extra_data, prev_hash, hash, ' +
            `key_id, idempotency_key) VALUES ${tuples.join(', ')}`,
          values,
        );
      },
      {
        lock: CHAIN_LOCK,
        // The idempotency keys already in the log ride along, read under the lock: keys are our own ids.
        opening:
          'SELECT (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) AS hash, clock_timestamp() AS now, ' +
          `ARRAY(SELECT idempotency_key FROM audit_log WHERE idempotency_key IN (${keysOf(entries)})) AS recorded`,
      },
    );
  }

  /** The chain's head, signed; undefined while the log is empty. */
  async checkpoint(): Promise<AuditCheckpoint | undefined> {
    const { rows } = await this.db.query<{ id: string; hash: string; at: Date }>(
      'SELECT id, hash, clock_timestamp() AS at FROM audit_log ORDER BY id DESC LIMIT 1',
    );
    const head = rows[0];
    if (!head) return undefined;
    const unsigned = { last_id: String(head.id), hash: head.hash, at: head.at.toISOString() };
    const { keyId, mac } = this.keys.mac(checkpointBody(unsigned));
    return { ...unsigned, key_id: keyId, mac };
  }

  /** Whether a checkpoint was signed with this instance's key (one that was not is no evidence of anything). */
  checkpointSigned(c: AuditCheckpoint): boolean {
    return this.keys.macMatches(checkpointBody(c), c.key_id, c.mac);
  }

  async query(filter: {
    action?: string;
    identity_id?: string;
    since?: Date;
    until?: Date;
    limit: number;
    before_id?: string;
  }) {
    const { rows } = await this.db.query<AuditRow>(
      `SELECT * FROM audit_log
       WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR identity_id = $2)
         AND ($3::timestamptz IS NULL OR timestamp >= $3) AND ($4::timestamptz IS NULL OR timestamp <= $4)
         AND ($5::bigint IS NULL OR id < $5)
       ORDER BY id DESC LIMIT $6`,
      [
        filter.action ?? null,
        filter.identity_id ?? null,
        filter.since ?? null,
        filter.until ?? null,
        filter.before_id ?? null,
        filter.limit,
      ],
    );
    return rows.map(toRecord);
  }

  /**
   * Walks the chain from the start and reports the first entry whose link or content does not check, then
   * compares the head with the newest signed checkpoint: a log that ends before it, or holds another entry
   * at its id, has lost its tail.
   */
  async verify(checkpoint?: AuditCheckpoint): Promise<VerifyResult> {
    let prev = GENESIS;
    let checked = 0;
    let after = '0';
    let keyed = false;
    let atCheckpoint: string | undefined;
    const shown = checkpoint && { last_id: checkpoint.last_id, hash: checkpoint.hash, at: checkpoint.at };
    const broken = (id: string, reason: string): VerifyResult => ({
      valid: false,
      checked,
      first_broken_id: id,
      reason,
      ...(shown ? { checkpoint: shown } : {}),
    });
    if (checkpoint && !this.checkpointSigned(checkpoint))
      return broken(checkpoint.last_id, "the checkpoint is not signed with this instance's key");
    for (;;) {
      const { rows } = await this.db.query<AuditRow>('SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT 5000', [
        after,
      ]);
      for (const row of rows) {
        if (row.prev_hash !== prev) return broken(row.id, 'previous entry missing or altered');
        const linked = { ...row, timestamp: row.timestamp.toISOString() };
        if (row.key_id === null) {
          // Unkeyed links are entries from before the chain was keyed: a prefix, never after a keyed one.
          if (keyed) return broken(row.id, 'an unkeyed entry after keyed ones: written without the key');
          if (unkeyedHash(prev, linked) !== row.hash) return broken(row.id, 'entry content altered');
        } else {
          keyed = true;
          if (!this.keys.macMatches(linkBody(prev, linked), row.key_id, row.hash))
            return broken(row.id, 'entry content altered');
        }
        if (checkpoint && row.id === checkpoint.last_id) atCheckpoint = row.hash;
        prev = row.hash;
        checked++;
        after = row.id;
      }
      if (rows.length === 0) break;
    }
    if (checkpoint && atCheckpoint !== checkpoint.hash) {
      const missing =
        atCheckpoint === undefined
          ? `entries after id ${after === '0' ? 'none' : after} are missing: ` +
            `the checkpoint of ${checkpoint.at} names entry ${checkpoint.last_id}`
          : `entry ${checkpoint.last_id} is not the one the checkpoint of ${checkpoint.at} signed`;
      return broken(atCheckpoint === undefined ? String(BigInt(after) + 1n) : checkpoint.last_id, missing);
    }
    return { valid: true, checked, ...(shown ? { checkpoint: shown } : {}) };
  }
}

function toRecord(row: AuditRow): AuditRecord {
  const { prev_hash: _prev, hash: _hash, key_id: _key, idempotency_key: _once, ...rest } = row;
  return { ...rest, timestamp: row.timestamp.toISOString() };
}
