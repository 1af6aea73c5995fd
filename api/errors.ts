import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ApiError, type ErrorCode } from '../lib/errors';

export function sendError(
  reply: FastifyReply,
  request: FastifyRequest,
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
) {
  const status = new ApiError(code, message).status;
  return reply
    .status(status)
    .send({ error: { code, message, ...(details ? { details } : {}), request_id: request.id } });
}

/** Every failure leaves in the contract's shape; an unexpected one is logged and shown without its stack. */
export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError) return sendError(reply, request, error.code, error.message, error.details);
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((v) => ({
      field: `${error.validationContext}${v.instancePath.replace(/\//g, '.').replace(/\.$/, '')}`,
      message: v.message,
    }));
    return sendError(
      reply,
      request,
      'invalid_request',
      `invalid ${error.validationContext}: ${issues.map((i) => `${i.field} ${i.message}`).join('; ')}`,
      { issues },
    );
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return sendError(reply, request, 'payload_too_large', 'request body is too large');
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const code: ErrorCode =
      fastifyError.statusCode === 413
        ? 'payload_too_large'
        : fastifyError.statusCode === 404
          ? 'not_found'
          : 'invalid_request';
    return sendError(reply, request, code, fastifyError.message.replace(/^FST_\w+: /, ''));
  }
  if (isUnavailable(error)) {
    request.log.warn(
      { err: { type: error.name, code: (error as { code?: string }).code } },
      'store or Temporal unavailable',
    );
    return sendError(
      reply,
      request,
      'engine_unavailable',
      'a backing service (the store database or Temporal) is unavailable; try again',
    );
  }
  request.log.error({ err: { type: error.name, message: error.message, stack: error.stack } }, 'unexpected error');
  return sendError(reply, request, 'internal', 'internal error; see the server log under this request id');
}

/**
 * A request Node could not even parse (over-large headers, a broken request line): answered in the
 * contract's shape.
 */
export function rejectMalformedRequest(error: Error & { code?: string }, socket: Socket) {
  if (!socket.writable) return socket.destroy();
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const body = JSON.stringify({
    error: {
      code: 'invalid_request',
      message: tooLarge ? 'request headers are too large' : 'malformed HTTP request',
      request_id: 'none',
    },
  });
  // 400 rather than 431: the contract gives invalid_request one status.
  socket.end(
    'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

const NUL = '\u0000';

function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes(NUL);
  if (depth > 64 || value === null || typeof value !== 'object') return false;
  return Object.entries(value).some(([key, inner]) => key.includes(NUL) || holdsNul(inner, depth + 1));
}

/** Postgres stores no NUL character in text or jsonb: refuse it up front, wherever it hides, with a 400. */
export function refuseNulCharacters(request: FastifyRequest) {
  for (const [part, value] of [
    ['body', request.body],
    ['query', request.query],
    ['params', request.params],
  ] as const) {
    if (holdsNul(value))
      throw new ApiError('invalid_request', `invalid ${part}: strings must not contain NUL (\\u0000) characters`);
  }
}

/** Connection failures and server shutdowns: the request may succeed when retried, so 503 rather than 500. */
function isUnavailable(error: Error): boolean {
  const code = (error as { code?: string }).code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03'].includes(code) ||
    code.startsWith('08') ||
    /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
      error.message,
    )
  );
}
