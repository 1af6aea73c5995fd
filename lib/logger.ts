import pino, { type LoggerOptions } from 'pino';

/** Every path a secret value can take into a log line is redacted by configuration, not by care. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'signing_secret',
  '*.signing_secret',
  'data',
  '*.data',
  'req.headers.authorization',
  'headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers["set-cookie"]',
  'cookie',
  '*.cookie',
  'connection_url',
  '*.connection_url',
  'connectionString',
  '*.connectionString',
];

export function loggerOptions(level: string): LoggerOptions {
  return { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
}

export const createLogger = (level = process.env.SCAIVAULT_LOG_LEVEL ?? 'info', name?: string) =>
  pino({ ...loggerOptions(level), name });
