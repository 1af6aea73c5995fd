import { describe, expect, it } from 'vitest';
import { sessionControlProblem } from '../../engine/statements';

describe('role statements that would control the transaction or the session', () => {
  it.each([
    'COMMIT',
    '  commit;',
    'END',
    'ROLLBACK',
    'abort',
    'BEGIN',
    'start transaction',
    'SAVEPOINT s',
    'RELEASE s',
    "PREPARE TRANSACTION 'x'",
    'DISCARD ALL',
    'RESET ALL',
    'SET ROLE postgres',
    'set session authorization postgres',
    '/* tidy */ COMMIT',
    '-- note\nROLLBACK',
    '(BEGIN)',
  ])('refuses %j', (statement) => {
    expect(sessionControlProblem(statement)).toMatch(/controls the transaction or the session/);
  });

  it.each([
    'CREATE ROLE "{{name}}" LOGIN',
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
    "SET LOCAL lock_timeout = '5s'",
    'ENDORSE',
    'SETTINGS',
    'DROP ROLE IF EXISTS "{{name}}"',
    'REASSIGN OWNED BY "{{name}}" TO admin',
    "COMMENT ON ROLE x IS 'COMMIT'",
  ])('allows %j', (statement) => {
    expect(sessionControlProblem(statement)).toBeUndefined();
  });
});
