import { createServer, type Server } from 'node:net';

/**
 * A server on loopback that speaks just enough of the Postgres protocol to be sent a password: it
 * declines TLS, asks for a cleartext password, and records every byte any client sends it.
 */
export async function startFakePostgres(): Promise<{ port: number; received(): string; close(): Promise<void> }> {
  const chunks: Buffer[] = [];
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (data) => {
      chunks.push(data);
      // SSLRequest: length 8, code 80877103 -> 'N' (no TLS). Anything else first: the startup message.
      if (data.length === 8 && data.readInt32BE(4) === 80877103) return void socket.write('N');
      if (data[0] === 0x70 /* 'p', the password message */) return void socket.end(errorResponse());
      const askCleartext = Buffer.alloc(9);
      askCleartext.write('R', 0);
      askCleartext.writeInt32BE(8, 1);
      askCleartext.writeInt32BE(3, 5);
      socket.write(askCleartext);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    received: () => Buffer.concat(chunks).toString('latin1'),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function errorResponse(): Buffer {
  const fields = Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0', 'latin1');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}
