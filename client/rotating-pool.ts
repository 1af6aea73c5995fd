import pg from 'pg';
import type { Credentials } from './index';
import type { HeldCredential } from './held-credential';

interface Generation {
  pool: pg.Pool;
  /** Queries and checked-out clients not yet done with this pool. */
  inUse: number;
  retired: boolean;
}

/**
 * A `pg` pool that follows a held credential: queries always go to the current credential's pool; when
 * the credential is replaced, new checkouts use a pool for the new one and the old pool ends once its
 * last query or client is done (well inside the old lease's grace period). No query fails because of a
 * rotation.
 */
export class RotatingPool {
  private current: Generation;
  private readonly generations = new Set<Generation>();

  constructor(
    held: Pick<HeldCredential, 'current' | 'on'>,
    private readonly config: Omit<pg.PoolConfig, 'connectionString' | 'user' | 'password'> = {},
  ) {
    this.current = this.open(held.current);
    held.on('rotated', (next: Credentials) => {
      const old = this.current;
      this.current = this.open(next);
      old.retired = true;
      void this.endIfIdle(old);
    });
  }

  /** Runs one query on the current credential's pool. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    const generation = this.take();
    try {
      return await generation.pool.query<R>(text, values);
    } finally {
      await this.give(generation);
    }
  }

  /** A client of the current credential's pool; release it as usual. */
  async connect(): Promise<pg.PoolClient> {
    const generation = this.take();
    let client: pg.PoolClient;
    try {
      client = await generation.pool.connect();
    } catch (error) {
      await this.give(generation);
      throw error;
    }
    const release = client.release.bind(client);
    let released = false;
    client.release = (error?: Error | boolean) => {
      if (!released) {
        released = true;
        release(error);
        void this.give(generation);
      }
    };
    return client;
  }

  /** Ends every pool (after their clients are returned). */
  async end(): Promise<void> {
    await Promise.all([...this.generations].map((g) => g.pool.end().catch(() => {})));
    this.generations.clear();
  }

  private open(credential: Credentials): Generation {
    const pool = new pg.Pool({ ...this.config, connectionString: credential.data.connection_url });
    pool.on('error', () => {}); // an idle client dropped by the server is replaced on the next checkout
    const generation = { pool, inUse: 0, retired: false };
    this.generations.add(generation);
    return generation;
  }

  private take(): Generation {
    this.current.inUse++;
    return this.current;
  }

  private async give(generation: Generation): Promise<void> {
    generation.inUse--;
    await this.endIfIdle(generation);
  }

  private async endIfIdle(generation: Generation): Promise<void> {
    if (!generation.retired || generation.inUse > 0 || !this.generations.delete(generation)) return;
    await generation.pool.end().catch(() => {});
  }
}
