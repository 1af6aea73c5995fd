import { randomBytes } from 'node:crypto';
import { isAdmin, type Identity } from '../../lib/access';
import { notFound } from '../../lib/errors';
import { newId } from '../../lib/random';
import { decodeCursor, pageFromRows, type PageQuery } from '../../lib/pagination';
import type { Stores } from '../../store';
import type { DeliveryRecord, WebhookRecord } from '../../store/webhooks';
import type { Authorizer } from '../auth';
import { refusal } from './refusal';
import { auditEntry } from './audit-entry';

const webhookView = (w: WebhookRecord) => ({
  id: w.id,
  url: w.url,
  events: w.events,
  path_pattern: w.path_pattern,
  created_at: w.created_at.toISOString(),
});

/** What a delivery looked like: status, the receiver's answer, attempts, the last error; never a secret. */
const deliveryView = (d: DeliveryRecord) => ({
  id: d.id,
  event_id: d.event_id,
  event_type: d.event_type,
  secret_path: d.secret_path,
  rotation_id: d.rotation_id,
  status: d.status,
  attempts: d.attempts,
  response_code: d.response_code,
  last_error: d.last_error,
  created_at: d.created_at.toISOString(),
  last_attempt_at: d.last_attempt_at?.toISOString() ?? null,
});

export interface WebhookServiceDeps {
  stores: Pick<Stores, 'webhooks' | 'audit' | 'audited'>;
  authorizer: Pick<Authorizer, 'allowsAll'>;
}

/**
 * A webhook hears of every rotation on the secrets its `path_pattern` matches, so it is held to those
 * secrets: whoever may `rotate` all of them may create, see and delete it; one with no pattern hears of
 * every secret, so it is an admin's.
 */
export function createWebhookService({ stores, authorizer }: WebhookServiceDeps) {
  const entry = (actor: Identity, id: string, operation: string) =>
    auditEntry(actor, 'webhook_write', `webhooks/${id}`, { operation, webhook_id: id });

  const mayHold = (actor: Identity, pathPattern: string | null) =>
    isAdmin(actor)
      ? Promise.resolve(true)
      : pathPattern === null
        ? Promise.resolve(false)
        : authorizer.allowsAll(actor, 'rotate', pathPattern);

  const refuse = (actor: Identity, path: string, pathPattern: string | null) =>
    refusal(
      stores.audit,
      actor,
      path,
      pathPattern === null
        ? 'a webhook with no path_pattern hears of every secret: only an admin may hold one'
        : `no policy grants rotate on every secret ${pathPattern} matches`,
      { permission: 'rotate', path_pattern: pathPattern },
    );

  async function mustHold(actor: Identity, id: string) {
    const hook = await stores.webhooks.get(id);
    if (!hook) throw notFound(`webhook ${id}`);
    if (!(await mayHold(actor, hook.path_pattern))) throw await refuse(actor, `webhooks/${id}`, hook.path_pattern);
    return hook;
  }

  return {
    /** The signing secret is in this answer only; the store keeps it sealed. */
    async create(actor: Identity, input: { url: string; events: string[]; path_pattern?: string }) {
      const pathPattern = input.path_pattern ?? null;
      if (!(await mayHold(actor, pathPattern))) throw await refuse(actor, 'webhooks', pathPattern);
      const id = newId('wh');
      const signingSecret = `whsec_${randomBytes(32).toString('base64url')}`;
      await stores.audited(
        (tx) =>
          stores.webhooks
            .within(tx)
            .create(
              { id, url: input.url, events: [...new Set(input.events)], path_pattern: pathPattern },
              signingSecret,
            ),
        entry(actor, id, 'create'),
      );
      return { ...webhookView((await stores.webhooks.get(id))!), signing_secret: signingSecret };
    },
    async list(actor: Identity) {
      const hooks = await stores.webhooks.list();
      const held = await Promise.all(hooks.map((hook) => mayHold(actor, hook.path_pattern)));
      return hooks.filter((_, n) => held[n]).map(webhookView);
    },
    get: async (actor: Identity, id: string) => webhookView(await mustHold(actor, id)),
    async delete(actor: Identity, id: string) {
      await mustHold(actor, id);
      const deleted = await stores.audited(
        (tx) => stores.webhooks.within(tx).delete(id),
        (done) => (done ? entry(actor, id, 'delete') : undefined),
      );
      if (!deleted) throw notFound(`webhook ${id}`);
    },
    /** A page of the webhook's deliveries, newest first. */
    async deliveries(actor: Identity, id: string, { limit, cursor }: PageQuery) {
      await mustHold(actor, id);
      const after = cursor === undefined ? undefined : (decodeCursor(cursor, ['string', 'string']) as [string, string]);
      const page = pageFromRows(await stores.webhooks.deliveries(id, limit + 1, after), limit, (d) => d.sort_key);
      return { ...page, data: page.data.map(deliveryView) };
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
