/** The activities the reconcile workflow calls; pure types, imported by the workflow sandbox. */
export interface ReconcileActivities {
  listEngines(): Promise<string[]>;
  reconcileEngine(input: { engine: string }): Promise<ReconcileReport>;
}

export interface ReconcileReport {
  engine: string;
  dropped: string[];
  failed: { username: string; error: string }[];
  error?: string;
}
