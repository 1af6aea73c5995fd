import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { withGuideStack } from '../support/guide';
import { adminQuery, type TargetDatabase } from '../support/postgres';
import type { Stack } from '../support/stack';
import { waitFor } from '../support/wait';

let stack: Stack;
let target: TargetDatabase;
let engine: string;

withGuideStack({ withGrantOption: true }, (c) => ({ stack, target, engine } = c));

/** A workflow's whole history as the server stores it, read by a client that has no codec. */
async function rawHistory(workflowId: string): Promise<Buffer> {
  const plain = new Client({ connection: stack.temporal.connection });
  const history = await plain.workflow.getHandle(workflowId).fetchHistory();
  return Buffer.from(temporal.api.history.v1.History.encode(history).finish());
}

const forms = (secret: string) => [
  secret,
  Buffer.from(secret).toString('base64'),
  Buffer.from(secret).toString('base64url'),
  Buffer.from(secret).toString('hex'),
];

describe('what Temporal stores', () => {
  it('holds no password, root credential or database error in readable form', async () => {
    const minted = (
      await stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, { metadata: { ticket: 'OPS-4411' } })
    ).body;
    const schema = `owned_${minted.data.username}`;
    await adminQuery(`CREATE SCHEMA ${schema} AUTHORIZATION "${minted.data.username}"`, [], target.name);
    expect((await stack.call('DELETE', `/v1/dynamic/leases/${minted.lease_id}`)).status).toBe(202);
    await adminQuery(`DROP SCHEMA ${schema}`, [], target.name);
    await stack.call('DELETE', `/v1/dynamic/leases/${minted.lease_id}?force=true`);

    const history = await rawHistory(minted.lease_id);
    const text = history.toString('latin1');
    // The history is really here: the username is a search attribute, which is never encrypted.
    expect(text).toContain(minted.data.username);
    for (const secret of [minted.data.password, target.adminPassword, 'OPS-4411', 'depend on it']) {
      for (const form of forms(secret)) expect(text, `history holds ${secret} as ${form}`).not.toContain(form);
    }
  });
});

describe('leases are searchable in the Web UI', () => {
  it('lists exactly the active leases of an engine by search attributes, as the REST listing does', async () => {
    const leases = await Promise.all(
      [1, 2, 3].map(() => stack.call('POST', `/v1/dynamic/engines/${engine}/creds/readonly`, {})),
    );
    await stack.call('DELETE', `/v1/dynamic/leases/${leases[0]!.body.lease_id}`);
    const query = `ScaiVaultEngine="${engine}" AND ScaiVaultLeaseState="active"`;
    const rest = (await stack.call('GET', `/v1/dynamic/leases?engine=${engine}&state=active`)).body.data
      .map((l: { lease_id: string }) => l.lease_id)
      .sort();
    expect(rest).toHaveLength(2);
    const search = async () => {
      const ids: string[] = [];
      for await (const wf of stack.temporal.workflow.list({ query })) ids.push(wf.workflowId);
      return ids.sort();
    };
    expect(await waitFor(search, (ids) => JSON.stringify(ids) === JSON.stringify(rest), 15_000)).toEqual(rest);
  });
});
