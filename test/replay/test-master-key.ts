import { createHash } from 'node:crypto';

/**
 * TEST ONLY, AND PUBLIC. The master key the recorded replay histories were sealed with, derived from a
 * fixed phrase so anyone can rebuild it: the histories under `histories/` hold payloads (workflow inputs,
 * activity results, the issued passwords of long-dropped test users) that this key opens. It is used by
 * `scripts/record-histories.ts` and `test/replay/replay.test.ts` and must never seal anything else.
 */
export const REPLAY_TEST_MASTER_KEY = createHash('sha256')
  .update('scaivault replay histories: test-only master key, public')
  .digest();
