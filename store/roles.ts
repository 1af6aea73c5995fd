import { TableAccess } from './db';

export interface RoleRecord {
  engine: string;
  name: string;
  creation_statements: string[];
  revocation_statements: string[];
  renew_statements: string[];
  default_ttl: number;
  max_ttl: number;
  username_template: string;
  created_at: Date;
  updated_at: Date;
}

export type RoleFields = Omit<RoleRecord, 'created_at' | 'updated_at'>;

export class RoleStore extends TableAccess {
  async get(engine: string, name: string): Promise<RoleRecord | undefined> {
    const { rows } = await this.db.query<RoleRecord>('SELECT * FROM roles WHERE engine = $1 AND name = $2', [
      engine,
      name,
    ]);
    return rows[0];
  }

  async list(engine: string): Promise<RoleRecord[]> {
    return (await this.db.query<RoleRecord>('SELECT * FROM roles WHERE engine = $1 ORDER BY name', [engine])).rows;
  }

  /** False when the role exists already: creation never replaces one. */
  async create(r: RoleFields): Promise<boolean> {
    const { rowCount } = await this.db.query(
      'INSERT INTO roles (engine, name, creation_statements, revocation_statements, renew_statements, ' +
        `default_ttl, max_ttl,
         username_template)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (engine, name) DO NOTHING`,
      this.values(r),
    );
    return (rowCount ?? 0) > 0;
  }

  async update(r: RoleFields): Promise<void> {
    await this.db.query(
      `UPDATE roles SET creation_statements = $3, revocation_statements = $4, renew_statements = $5, default_ttl = $6,
         max_ttl = $7, username_template = $8, updated_at = now() WHERE engine = $1 AND name = $2`,
      this.values(r),
    );
  }

  private values(r: RoleFields) {
    return [
      r.engine,
      r.name,
      JSON.stringify(r.creation_statements),
      JSON.stringify(r.revocation_statements),
      JSON.stringify(r.renew_statements),
      r.default_ttl,
      r.max_ttl,
      r.username_template,
    ];
  }

  async delete(engine: string, name: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM roles WHERE engine = $1 AND name = $2', [engine, name]);
    return (rowCount ?? 0) > 0;
  }
}
