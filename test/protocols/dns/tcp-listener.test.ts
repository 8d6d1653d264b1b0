/**
 * The forwarder's TCP listener (src/protocols/dns/tcp-listener.ts) on an ephemeral port of
 * ::1: several framed queries in one segment are all answered (RFC 7766 §6.2.1), a message
 * split across segments is put back together, and a query the handler drops closes the
 * connection. The handler here echoes the query with its first byte changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { TcpListener } from '../../../src/protocols/dns/tcp-listener.js';
import { frameTcp, TcpDeframer } from '../../../src/protocols/dns/transport.js';

async function withListener(fn: (port: number, clients: string[]) => Promise<void>): Promise<void> {
  const clients: string[] = [];
  const l = new TcpListener(async (q, client) => {
    clients.push(Buffer.from(client).toString('hex'));
    return q[0] === 0xff ? null : Uint8Array.from([q[0]! + 1, ...q.slice(1)]);
  });
  await l.listen(0);
  try {
    await fn(l.port, clients);
  } finally {
    l.close();
  }
}

/** Writes `chunks` one by one and collects framed replies until `want` arrived or the peer closed. */
function exchange(port: number, chunks: Uint8Array[], want: number): Promise<{ replies: number[][]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '::1', port });
    const d = new TcpDeframer();
    const replies: number[][] = [];
    s.on('error', reject);
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
    });
    s.on('data', (b: Buffer) => {
      for (let m = d.push(b); m !== null; m = d.next()) replies.push([...m]);
      if (replies.length >= want) {
        s.destroy();
        resolve({ replies, closed: false });
      }
    });
    s.on('close', () => resolve({ replies, closed: true }));
  });
}

test('several queries in one segment and one split across segments are each answered', async () => {
  await withListener(async (port, clients) => {
    const both = Uint8Array.from([...frameTcp(Uint8Array.from([1, 2, 3])), ...frameTcp(Uint8Array.from([10, 20]))]);
    const split = frameTcp(Uint8Array.from([5, 6, 7, 8]));
    const r = await exchange(port, [both, split.subarray(0, 3), split.subarray(3)], 3);
    assert.deepEqual(r.replies.sort((a, b) => a[0]! - b[0]!), [[2, 2, 3], [6, 6, 7, 8], [11, 20]]);
    assert.equal(clients[0], '00000000000000000000000000000001', 'the client address is ::1');
  });
});

test('a query the handler drops closes the connection', async () => {
  await withListener(async (port) => {
    const r = await exchange(port, [frameTcp(Uint8Array.from([0xff, 1]))], 1);
    assert.deepEqual(r, { replies: [], closed: true });
  });
});

test('connections over the cap are closed as they come and counted', async () => {
  const l = new TcpListener(async (q) => q, 2);
  await l.listen(0);
  const open = () =>
    new Promise<{ closedAtOnce: boolean; destroy: () => void }>((resolve) => {
      const s = connect({ host: '::1', port: l.port });
      s.on('error', () => undefined);
      // An accepted connection answers a query; a refused one closes without answering.
      s.on('connect', () => s.write(frameTcp(Uint8Array.from([1]))));
      s.on('data', () => resolve({ closedAtOnce: false, destroy: () => s.destroy() }));
      s.on('close', () => resolve({ closedAtOnce: true, destroy: () => undefined }));
    });
  try {
    const first = await open();
    const second = await open();
    const third = await open();
    assert.deepEqual([first.closedAtOnce, second.closedAtOnce, third.closedAtOnce], [false, false, true]);
    assert.deepEqual([l.connections, l.refusedConnections], [2, 1]);
    first.destroy();
    second.destroy();
  } finally {
    l.close();
  }
});
