import type { SecretPolicyRules } from '../lib/secret-policy';
import { TableAccess } from './db';

const UNIQUE_VIOLATION = '23505';
const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === UNIQUE_VIOLATION;

export interface SecretPolicyRecord extends SecretPolicyRules {
  id: string;
  name: string;
  builtin: boolean;
  created_at: Date;
}

export interface RotationPolicyRecord {
  id: string;
  name: string;
  interval_seconds: number;
  grace_period_seconds: number;
  auto_generate: boolean;
  secret_policy_id: string;
  created_at: Date;
}

export interface AssignmentRecord {
  secret_path: string;
  policy_id: string;
  schedule_id: string;
  assigned_at: Date;
}

export const ROTATION_STATES = ['pending', 'confirmed', 'completed', 'expired', 'failed'] as const;
export type RotationState = (typeof ROTATION_STATES)[number];
export type RotationTrigger = 'schedule' | 'manual' | 'rotate_root';

export interface RotationRecord {
  rotation_id: string;
  secret_path: string;
  policy_id: string | null;
  workflow_id: string;
  trigger: RotationTrigger;
  state: RotationState;
  new_version: number | null;
  previous_version: number | null;
  requested_by: string;
  confirmed_by: string | null;
  started_at: Date;
  confirm_deadline: Date | null;
  confirmed_at: Date | null;
  grace_ends_at: Date | null;
  finished_at: Date | null;
  last_error: string | null;
}

/** Secret policies, rotation policies, which secret rotates under which, and each rotation's progress. */
export class RotationStore extends TableAccess {
  /** 'id_taken' or 'name_taken' when either is in use. */
  async createSecretPolicy(
    p: Omit<SecretPolicyRecord, 'builtin' | 'created_at'>,
  ): Promise<'created' | 'id_taken' | 'name_taken'> {
    return this.insertUnique(
      `INSERT INTO secret_policies (id, name, length, charset, min_digits, min_lowercase, min_uppercase, min_symbols)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [p.id, p.name, p.length, p.charset, p.min_digits, p.min_lowercase, p.min_uppercase, p.min_symbols],
    );
  }

  async secretPolicy(id: string): Promise<SecretPolicyRecord | undefined> {
    return (await this.db.query<SecretPolicyRecord>('SELECT * FROM secret_policies WHERE id = $1', [id])).rows[0];
  }

  async secretPolicies(): Promise<SecretPolicyRecord[]> {
    return (await this.db.query<SecretPolicyRecord>('SELECT * FROM secret_policies ORDER BY name')).rows;
  }

  async createPolicy(p: Omit<RotationPolicyRecord, 'created_at'>): Promise<'created' | 'id_taken' | 'name_taken'> {
    return this.insertUnique(
      `INSERT INTO rotation_policies (id, name, interval_seconds, grace_period_seconds, auto_generate, secret_policy_id)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [p.id, p.name, p.interval_seconds, p.grace_period_seconds, p.auto_generate, p.secret_policy_id],
    );
  }

  async policy(id: string): Promise<RotationPolicyRecord | undefined> {
    return (await this.db.query<RotationPolicyRecord>('SELECT * FROM rotation_policies WHERE id = $1', [id])).rows[0];
  }

  async policies(): Promise<RotationPolicyRecord[]> {
    return (await this.db.query<RotationPolicyRecord>('SELECT * FROM rotation_policies ORDER BY name')).rows;
  }

  async assign(a: Omit<AssignmentRecord, 'assigned_at'>): Promise<void> {
    await this.db.query(
      `INSERT INTO rotation_assignments (secret_path, policy_id, schedule_id) VALUES ($1, $2, $3)
       ON CONFLICT (secret_path) DO UPDATE SET ` +
        'policy_id = EXCLUDED.policy_id, schedule_id = EXCLUDED.schedule_id, assigned_at = now()',
      [a.secret_path, a.policy_id, a.schedule_id],
    );
  }

  async assignment(path: string): Promise<(AssignmentRecord & { policy: RotationPolicyRecord }) | undefined> {
    const { rows } = await this.db.query<AssignmentRecord & { policy: RotationPolicyRecord }>(
      'SELECT a.*, to_jsonb(p) AS policy FROM rotation_assignments a ' +
        'JOIN rotation_policies p ON p.id = a.policy_id WHERE a.secret_path = $1',
      [path],
    );
    return rows[0];
  }

  async assignedPaths(policyId: string): Promise<string[]> {
    const { rows } = await this.db.query<{ secret_path: string }>(
      'SELECT secret_path FROM rotation_assignments WHERE policy_id = $1 ORDER BY secret_path',
      [policyId],
    );
    return rows.map((r) => r.secret_path);
  }

  /**
   * Records a rotation that begins. Idempotent for one rotation id (a retried activity gets the row back);
   * 'busy' when another rotation of the path is in progress.
   */
  async begin(
    r: Pick<RotationRecord, 'rotation_id' | 'secret_path' | 'policy_id' | 'workflow_id' | 'trigger' | 'requested_by'>,
  ): Promise<RotationRecord | 'busy'> {
    const existing = await this.get(r.rotation_id);
    if (existing) return existing;
    try {
      const { rows } = await this.db.query<RotationRecord>(
        `INSERT INTO rotations (rotation_id, secret_path, policy_id, workflow_id, trigger, state, requested_by)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6) RETURNING *`,
        [r.rotation_id, r.secret_path, r.policy_id, r.workflow_id, r.trigger, r.requested_by],
      );
      return rows[0]!;
    } catch (error) {
      if (isUniqueViolation(error)) return 'busy';
      throw error;
    }
  }

  async update(
    rotationId: string,
    fields: Partial<Omit<RotationRecord, 'rotation_id' | 'secret_path'>>,
  ): Promise<void> {
    const entries = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return;
    await this.db.query(
      `UPDATE rotations SET ${entries.map(([k], i) => `${k} = $${i + 2}`).join(', ')} WHERE rotation_id = $1`,
      [rotationId, ...entries.map(([, v]) => v)],
    );
  }

  /**
   * The secret is gone: its rotation in progress fails with `error`, and it leaves its policy's schedule.
   * Returns the workflow ids of the rotations it ended, so they can be told.
   */
  async forgetSecret(path: string, error: string): Promise<string[]> {
    const { rows } = await this.db.query<{ workflow_id: string }>(
      "UPDATE rotations SET state = 'failed', finished_at = now(), last_error = $2 " +
        `WHERE secret_path = $1 AND state IN ('pending', 'confirmed')
       RETURNING workflow_id`,
      [path, error],
    );
    await this.db.query('DELETE FROM rotation_assignments WHERE secret_path = $1', [path]);
    return rows.map((r) => r.workflow_id);
  }

  async get(rotationId: string): Promise<RotationRecord | undefined> {
    return (await this.db.query<RotationRecord>('SELECT * FROM rotations WHERE rotation_id = $1', [rotationId]))
      .rows[0];
  }

  async inProgress(path: string): Promise<RotationRecord | undefined> {
    const { rows } = await this.db.query<RotationRecord>(
      `SELECT * FROM rotations WHERE secret_path = $1 AND state IN ('pending', 'confirmed')`,
      [path],
    );
    return rows[0];
  }

  async latest(path: string): Promise<RotationRecord | undefined> {
    const { rows } = await this.db.query<RotationRecord>(
      'SELECT * FROM rotations WHERE secret_path = $1 ORDER BY started_at DESC LIMIT 1',
      [path],
    );
    return rows[0];
  }

  private async insertUnique(sql: string, values: unknown[]): Promise<'created' | 'id_taken' | 'name_taken'> {
    try {
      await this.db.query(sql, values);
      return 'created';
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      return (error as { constraint?: string }).constraint?.endsWith('_pkey') ? 'id_taken' : 'name_taken';
    }
  }
}
