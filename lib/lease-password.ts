import type { Keyring } from './keyring';

const PREFIX = 'sealed:v1:';

/**
 * A lease's password as it travels through Temporal: sealed with a key of its own (derived for this
 * purpose only), so the codec endpoint, which opens every other payload for the Web UI, shows an
 * operator who inspects a lease `sealed:v1:...` instead of the credential a service holds. The API
 * opens it once, to hand it to the caller that asked for it. Bound to its lease id.
 */
export class LeasePasswordSeal {
  constructor(private readonly keyring: Keyring) {}

  seal(password: string, leaseId: string): string {
    const { keyId, sealed } = this.keyring.seal(Buffer.from(password, 'utf8'), `lease-password:${leaseId}`);
    return `${PREFIX}${keyId}:${sealed.toString('base64')}`;
  }

  /** The password; one issued before passwords were sealed comes back as it was recorded. */
  open(value: string, leaseId: string): string {
    if (!value.startsWith(PREFIX)) return value;
    const [keyId, body] = value.slice(PREFIX.length).split(':');
    return this.keyring.open(keyId!, Buffer.from(body!, 'base64'), `lease-password:${leaseId}`).toString('utf8');
  }
}
