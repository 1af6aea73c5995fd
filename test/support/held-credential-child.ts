// A service as the guide's step 6 has it: it holds a credential and revokes it from its shutdown hook.
import { ScaiVaultClient } from '../../client';
import { HeldCredential } from '../../client/held-credential';
import { revokeOnShutdown } from '../../client/shutdown';

const [address, token, engine, role] = process.argv.slice(2) as [string, string, string, string];

void (async () => {
  const held = await HeldCredential.acquire({ client: new ScaiVaultClient(address, token), engine, role, ttl: '1h' });
  revokeOnShutdown(held);
  process.stdout.write(
    `${JSON.stringify({ lease_id: held.current.lease_id, username: held.current.data.username })}\n`,
  );
  setInterval(() => {}, 1 << 30);
})();
