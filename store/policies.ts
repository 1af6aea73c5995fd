import type { PolicyRule } from '../lib/path-pattern';
import { TableAccess } from './db';

export interface PolicyRecord {
  id: string;
  name: string;
  rules: PolicyRule[];
  bindings: string[];
  created_at: Date;
  updated_at: Date;
}

export type PolicyFields = Pick<PolicyRecord, 'id' | 'name' | 'rules'>;

const UNIQUE_VIOLATION = '23505';
const isNameTaken = (error: unknown) => (error as { code?: string }).code === UNIQUE_VIOLATION;

const SELECT_WITH_BINDINGS =
  `
  SELECT p.*, COALESCE(array_agg(b.identity_id ORDER BY b.identity_id) ` +
  `FILTER (WHERE b.identity_id IS NOT NULL), '{}') AS bindings
  FROM policies p LEFT JOIN policy_bindings b ON b.policy_id = p.id`;

export class PolicyStore extends TableAccess {
  /** False when the name is taken. */
  async create(p: PolicyFields): Promise<boolean> {
    try {
      await this.db.query('INSERT INTO policies (id, name, rules) VALUES ($1, $2, $3)', [
        p.id,
        p.name,
        JSON.stringify(p.rules),
      ]);
      return true;
    } catch (error) {
      if (isNameTaken(error)) return false;
      throw error;
    }
  }

  async get(id: string): Promise<PolicyRecord | undefined> {
    const { rows } = await this.db.query<PolicyRecord>(`${SELECT_WITH_BINDINGS} WHERE p.id = $1 GROUP BY p.id`, [id]);
    return rows[0];
  }

  async list(): Promise<PolicyRecord[]> {
    return (await this.db.query<PolicyRecord>(`${SELECT_WITH_BINDINGS} GROUP BY p.id ORDER BY p.name`)).rows;
  }

  /** 'missing' when there is no such policy, 'name_taken' when another policy has the name. */
  async update(p: PolicyFields): Promise<'updated' | 'missing' | 'name_taken'> {
    try {
      const { rowCount } = await this.db.query(
        'UPDATE policies SET name = $2, rules = $3, updated_at = now() WHERE id = $1',
        [p.id, p.name, JSON.stringify(p.rules)],
      );
      return rowCount ? 'updated' : 'missing';
    } catch (error) {
      if (isNameTaken(error)) return 'name_taken';
      throw error;
    }
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.db.query('DELETE FROM policies WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  /** Idempotent. */
  async bind(policyId: string, identityId: string): Promise<void> {
    await this.db.query('INSERT INTO policy_bindings (policy_id, identity_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      policyId,
      identityId,
    ]);
  }

  async unbind(policyId: string, identityId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM policy_bindings WHERE policy_id = $1 AND identity_id = $2', [
      policyId,
      identityId,
    ]);
    return (rowCount ?? 0) > 0;
  }

  /** The policies in force for a token: those it carries and those bound to its identity, existing ones only. */
  async inForce(tokenPolicyIds: string[], identityId: string): Promise<Array<Pick<PolicyRecord, 'id' | 'rules'>>> {
    const { rows } = await this.db.query<Pick<PolicyRecord, 'id' | 'rules'>>(
      `SELECT id, rules FROM policies
       WHERE id = ANY($1) OR id IN (SELECT policy_id FROM policy_bindings WHERE identity_id = $2)
       ORDER BY id`,
      [tokenPolicyIds, identityId],
    );
    return rows;
  }

  /** The ids among `ids` that name no policy. */
  async missing(ids: string[]): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>('SELECT id FROM policies WHERE id = ANY($1)', [ids]);
    const found = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !found.has(id));
  }
}
