import { describe, expect, it } from 'vitest';
import {
  caCertificateProblem,
  connectionUrlProblem,
  fillConnectionUrl,
  poolConfigFor,
  scrub,
} from '../../engine/connection-url';

describe('connection_url', () => {
  it.each([
    'postgresql://{{username}}:{{password}}@db.internal:5432/reporting?sslmode=require',
    'postgres://{{username}}@db.internal/reporting',
    'postgresql://scaivault_admin:{{password}}@db.internal/reporting',
  ])('accepts %s', (url) => {
    expect(connectionUrlProblem(url)).toBeUndefined();
  });

  it.each([
    ['not a url', /not a URL/],
    ['mysql://{{username}}:{{password}}@h/db', /postgresql/],
    ['postgresql://admin:hunter2@h/db', /literal password/],
    ['postgresql://{{username}}:{{password}}@h/db?sslmode=maybe', /sslmode/],
    ['postgresql://{{username}}@h/{{password}}', /only as its user and password/],
    ['postgresql://{{username}}:{{password}}@{{password}}.evil.example/db', /only as its user and password/],
    ['postgresql://{{username}}:{{password}}@h/db?application_name={{password}}', /only as its user and password/],
    ['postgresql://{{password}}:{{password}}@h/db', /only as its user and password/],
    ['postgresql://{{username}}:{{password}}@h/db#{{username}}', /only as its user and password/],
  ])('refuses %s', (url, problem) => {
    expect(connectionUrlProblem(url)).toMatch(problem);
  });

  it('URL-encodes the credential it fills in', () => {
    const url = fillConnectionUrl('postgresql://{{username}}:{{password}}@h:5432/db', {
      username: 'a@b',
      password: 'p/:@?',
    });
    const config = poolConfigFor(url);
    expect(config).toMatchObject({ user: 'a@b', password: 'p/:@?', host: 'h', port: 5432, database: 'db' });
  });

  it.each([
    [undefined, false],
    ['disable', false],
    ['prefer', false],
    ['require', { rejectUnauthorized: false }],
    ['verify-full', { rejectUnauthorized: true }],
  ])('reads sslmode=%s as libpq does', (mode, ssl) => {
    const config = poolConfigFor(`postgresql://u:p@h/db${mode ? `?sslmode=${mode}` : ''}`);
    if (typeof ssl === 'object') expect(config.ssl).toMatchObject(ssl);
    else expect(config.ssl).toBe(ssl);
  });

  it('verify-ca checks the chain but not the host name', () => {
    const ssl = poolConfigFor('postgresql://u:p@h/db?sslmode=verify-ca').ssl as {
      rejectUnauthorized: boolean;
      checkServerIdentity: () => unknown;
    };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.checkServerIdentity()).toBeUndefined();
  });

  it.each(['sslrootcert=/etc/ssl/ca.pem', 'sslcert=/c', 'sslkey=/k', 'sslcrl=/r', 'passfile=/p', 'service=prod'])(
    'refuses the file parameter %s',
    (parameter) => {
      expect(
        connectionUrlProblem(`postgresql://{{username}}:{{password}}@h/db?sslmode=verify-full&${parameter}`),
      ).toMatch(/may not name a file/);
    },
  );

  it.each([
    ['no PEM at all', 'not a certificate'],
    ['a PEM block with something after it', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\nrm -rf /'],
    ['a key, not a certificate', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'],
    ['a block that does not parse', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'],
  ])('refuses a ca_certificate that is %s', (_label, pem) => {
    expect(caCertificateProblem(pem)).toBeDefined();
  });

  it('scrubs secrets from messages', () => {
    expect(scrub('failed for p4ss and p4ss', 'p4ss')).toBe('failed for [redacted] and [redacted]');
  });
});
