import { randomBytes } from 'node:crypto';
import type { Identity } from '../../lib/access';
import { notFound } from '../../lib/errors';
import { newId } from '../../lib/random';
import type { Stores } from '../../store';
import type { DeliveryRecord, WebhookRecord } from '../../store/webhooks';

const webhookView = (w: WebhookRecord) => ({ id: w.id, url: w.url, events: w.events, path_pattern: w.path_pattern, created_at: w.created_at.toISOString() });

/** What a delivery looked like: status, the receiver's answer, attempts, the last error; never a secret. */
const deliveryView = (d: DeliveryRecord) => ({
  id: d.id, event_id: d.event_id, event_type: d.event_type, secret_path: d.secret_path, rotation_id: d.rotation_id, status: d.status,
  attempts: d.attempts, response_code: d.response_code, last_error: d.last_error,
  created_at: d.created_at.toISOString(), last_attempt_at: d.last_attempt_at?.toISOString() ?? null,
});

export function createWebhookService(stores: Stores) {
  const audit = (actor: Identity, id: string, operation: string) =>
    stores.audit.append({ identity_id: actor.identity_id, action: 'webhook_write', path: `webhooks/${id}`, result: 'success', extra_data: { operation, webhook_id: id } });

  async function mustGet(id: string) {
    const hook = await stores.webhooks.get(id);
    if (!hook) throw notFound(`webhook ${id}`);
    return hook;
  }

  return {
    /** The signing secret is in this answer only; the store keeps it sealed. */
    async create(actor: Identity, input: { url: string; events: string[]; path_pattern?: string }) {
      const id = newId('wh');
      const signingSecret = `whsec_${randomBytes(32).toString('base64url')}`;
      await stores.webhooks.create({ id, url: input.url, events: [...new Set(input.events)], path_pattern: input.path_pattern ?? null }, signingSecret);
      await audit(actor, id, 'create');
      return { ...webhookView((await stores.webhooks.get(id))!), signing_secret: signingSecret };
    },
    list: async () => (await stores.webhooks.list()).map(webhookView),
    get: async (id: string) => webhookView(await mustGet(id)),
    async delete(actor: Identity, id: string) {
      if (!(await stores.webhooks.delete(id))) throw notFound(`webhook ${id}`);
      await audit(actor, id, 'delete');
    },
    async deliveries(id: string) {
      await mustGet(id);
      return (await stores.webhooks.deliveries(id)).map(deliveryView);
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
