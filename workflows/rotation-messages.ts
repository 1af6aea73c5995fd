import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RotationView } from '../lib/rotation-activities';

/** Sent with a manual rotation's start (update-with-start): answers once the pending version is written. */
export const startedUpdate = defineUpdate<RotationView>('started');
/** The database took the new value: answers once the pending version is current. */
export const confirmUpdate = defineUpdate<RotationView, [{ identityId: string }]>('confirm');
export const rotationQuery = defineQuery<RotationView>('rotation');
/** The rotation's secret was deleted: the rotation is over (the store already says failed). */
export const secretDeletedSignal = defineSignal('secretDeleted');
