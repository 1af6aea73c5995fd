import { z } from 'zod';
import { durationSchema } from '../lib/duration';

/** A name in a URL or a body: engines, roles. */
export const nameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, "_", "-" or "."');

/** A policy's name (access, rotation, secret): longer than an engine's or a role's. */
export const policyNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be 1-128 letters, digits, "_", "-" or "."');

/**
 * One of our ids in a URL or a body: `<prefix>_` and what `newId` makes (lower-case letters and digits), or
 * the base64url of ids made before it.
 */
export const idSchema = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}_[A-Za-z0-9_-]{1,64}$`), `is not a ${prefix}_ id`);

/** An id a client chooses (the guide's `rot_db_root`): lower-case, as generated ones are. */
export const chosenIdSchema = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}_[a-z0-9_]{1,60}$`), `must look like ${prefix}_[a-z0-9_]+`);

/** A secret path: slash-separated segments, no empty, "." or ".." segment. */
export const secretPathSchema = z
  .string()
  .min(1)
  .max(512)
  .regex(
    /^[A-Za-z0-9_.@-]+(\/[A-Za-z0-9_.@-]+)*$/,
    'must be slash-separated segments of letters, digits, "_", "-", ".", "@"',
  )
  .refine((path) => !path.split('/').some((s) => s === '.' || s === '..'), 'must not contain "." or ".." segments');

export const metadataSchema = z
  .record(z.string().max(128), z.string().max(1024))
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 entries');

export const statementsSchema = z.array(z.string().min(1).max(16_384)).max(64);

export { durationSchema };
