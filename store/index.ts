import { LeasePasswordSeal } from '../lib/lease-password';
import { Keyring } from '../lib/keyring';
import { AuditLog, type AuditEntry } from './audit';
import { createStorePool, inStoreTransaction, type Tx } from './db';
import { EngineStore } from './engines';
import { IdentityStore } from './identities';
import { LeaseStore } from './leases';
import { PolicyStore } from './policies';
import { RoleStore } from './roles';
import { RotationStore } from './rotation';
import { SecretStore } from './secrets';
import { TokenStore } from './tokens';
import { WebhookStore } from './webhooks';

export type Stores = ReturnType<typeof openStores>;

/** The product's own store: one pool, one data-access object per table group. */
export function openStores(databaseUrl: string, masterKeys: Buffer[], poolSize = 10) {
  const db = createStorePool(databaseUrl, poolSize);
  const secretKeyring = Keyring.derive(masterKeys, 'secret-store');
  const audit = new AuditLog(db, Keyring.derive(masterKeys, 'audit-chain'));
  return {
    db,
    secrets: new SecretStore(db, secretKeyring),
    engines: new EngineStore(db),
    roles: new RoleStore(db),
    leases: new LeaseStore(db),
    tokens: new TokenStore(db),
    identities: new IdentityStore(db),
    policies: new PolicyStore(db),
    audit,
    /** Runs `work` in one transaction of the store: data-access objects join it through `within(tx)`. */
    atomically: <T>(work: (tx: Tx) => Promise<T>) => inStoreTransaction(db, work),
    /**
     * Runs a change and writes its audit entry in the same transaction: both commit, or neither does.
     * `entry` may depend on the change's result, and be undefined when nothing changed.
     */
    audited: <T>(change: (tx: Tx) => Promise<T>, entry: AuditEntry | ((result: T) => AuditEntry | undefined)) =>
      inStoreTransaction(db, async (tx) => {
        const result = await change(tx);
        const recorded = typeof entry === 'function' ? entry(result) : entry;
        if (recorded) await audit.appendIn(tx, recorded);
        return result;
      }),
    rotation: new RotationStore(db),
    webhooks: new WebhookStore(db, secretKeyring),
    /** Whether the store answers: what the readiness check asks. */
    answers: () =>
      db.query('SELECT 1').then(
        () => true,
        () => false,
      ),
    close: () => db.end(),
  };
}

export const payloadKeyring = (masterKeys: Buffer[]) => Keyring.derive(masterKeys, 'temporal-payloads');
/** Issued passwords inside Temporal payloads: a key the codec endpoint never holds. */
export const leasePasswordSeal = (masterKeys: Buffer[]) =>
  new LeasePasswordSeal(Keyring.derive(masterKeys, 'lease-passwords'));
