import type { Keyring } from '../lib/keyring';
import { TableAccess, type Queryable } from './db';

export interface WebhookRecord {
  id: string;
  url: string;
  events: string[];
  path_pattern: string | null;
  created_at: Date;
}

export type DeliveryStatus = 'pending' | 'retrying' | 'delivered' | 'failed';

export interface DeliveryRecord {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  secret_path: string;
  rotation_id: string | null;
  status: DeliveryStatus;
  attempts: number;
  failed_attempts: number;
  response_code: number | null;
  last_error: string | null;
  created_at: Date;
  last_attempt_at: Date | null;
}

const aad = (id: string) => `webhook:${id}`;
const PUBLIC_COLUMNS = 'id, url, events, path_pattern, created_at';

/** Webhook receivers, their sealed signing secrets, and the record of each delivery. */
export class WebhookStore extends TableAccess {
  constructor(
    db: Queryable,
    private readonly keyring: Keyring,
  ) {
    super(db);
  }

  async create(w: Omit<WebhookRecord, 'created_at'>, signingSecret: string): Promise<void> {
    const { keyId, sealed } = this.keyring.seal(Buffer.from(signingSecret), aad(w.id));
    await this.db.query(
      'INSERT INTO webhooks (id, url, events, path_pattern, key_id, sealed_secret) VALUES ($1, $2, $3, $4, $5, $6)',
      [w.id, w.url, w.events, w.path_pattern, keyId, sealed],
    );
  }

  async get(id: string): Promise<WebhookRecord | undefined> {
    return (await this.db.query<WebhookRecord>(`SELECT ${PUBLIC_COLUMNS} FROM webhooks WHERE id = $1`, [id])).rows[0];
  }

  async list(): Promise<WebhookRecord[]> {
    return (await this.db.query<WebhookRecord>(`SELECT ${PUBLIC_COLUMNS} FROM webhooks ORDER BY created_at, id`)).rows;
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.db.query('DELETE FROM webhooks WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  /** The signing secret, opened for signing one delivery. */
  async signingSecret(id: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ key_id: string; sealed_secret: Buffer }>(
      'SELECT key_id, sealed_secret FROM webhooks WHERE id = $1',
      [id],
    );
    return rows[0] && this.keyring.open(rows[0].key_id, rows[0].sealed_secret, aad(id)).toString('utf8');
  }

  /** Idempotent per webhook and event. */
  async addDelivery(
    d: Pick<DeliveryRecord, 'id' | 'webhook_id' | 'event_id' | 'event_type' | 'secret_path' | 'rotation_id'>,
  ): Promise<string> {
    const { rows } = await this.db.query<{ id: string }>(
      `INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, secret_path, rotation_id, status)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending')
       ON CONFLICT (webhook_id, event_id) DO UPDATE SET event_type = EXCLUDED.event_type RETURNING id`,
      [d.id, d.webhook_id, d.event_id, d.event_type, d.secret_path, d.rotation_id],
    );
    return rows[0]!.id;
  }

  /** Records one attempt: its number, the receiver's status code, and the error if it failed. */
  async recordAttempt(
    id: string,
    attempt: number,
    outcome: { status: DeliveryStatus; responseCode?: number; error?: string },
  ): Promise<void> {
    await this.db.query(
      'UPDATE webhook_deliveries SET status = $2, attempts = GREATEST(attempts, $3), ' +
        `response_code = $4, last_error = $5,
              failed_attempts = failed_attempts + $6, last_attempt_at = now()
        WHERE id = $1`,
      [
        id,
        outcome.status,
        attempt,
        outcome.responseCode ?? null,
        outcome.error ?? null,
        outcome.status === 'delivered' ? 0 : 1,
      ],
    );
  }

  async markFailed(id: string): Promise<void> {
    await this.db.query(`UPDATE webhook_deliveries SET status = 'failed' WHERE id = $1 AND status <> 'delivered'`, [
      id,
    ]);
  }

  /**
   * Newest first, after the delivery whose sort key is `after`: `[created_at as the database writes it
   * (microseconds kept), id]`, which each record carries as `sort_key`.
   */
  async deliveries(
    webhookId: string,
    limit: number,
    after?: [string, string],
  ): Promise<Array<DeliveryRecord & { sort_key: [string, string] }>> {
    const { rows } = await this.db.query<DeliveryRecord & { created_key: string }>(
      `SELECT *, created_at::text AS created_key FROM webhook_deliveries
       WHERE webhook_id = $1 AND ($2::timestamptz IS NULL OR created_at < $2::timestamptz ` +
        `OR (created_at = $2::timestamptz AND id > $3))
       ORDER BY created_at DESC, id LIMIT $4`,
      [webhookId, after?.[0] ?? null, after?.[1] ?? null, limit],
    );
    return rows.map(({ created_key, ...row }) => ({ ...row, sort_key: [created_key, row.id] as [string, string] }));
  }
}
