/**
 * A small UDP sender for the forwarder's bad-input test, run in a LAN host's namespace
 * (`ip netns exec NS node dist/test/interop/dns/send-udp.js JSON`):
 * { server, messages: [hex], flood?: { count, seed, suffix } }. Each message is sent alone
 * and its reply (hex) or null after 1 s is printed; then the flood sends `count` AAAA
 * queries for seeded random names under `suffix`, 2 ms apart, and counts the replies.
 */
import { createSocket } from 'node:dgram';
import { dnsQuery, DNS_TYPE, encodeDnsToBytes } from '../../../src/wire/dns.js';

interface Input {
  server: string;
  messages: string[];
  flood?: { count: number; seed: number; suffix: string };
}

const input = JSON.parse(process.argv[2]!) as Input;
const sock = createSocket({ type: 'udp6' });
await new Promise<void>((r) => sock.bind(0, r));

function exchange(bytes: Uint8Array): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sock.off('message', onMessage);
      resolve(null);
    }, 1000);
    const onMessage = (msg: Buffer) => {
      clearTimeout(timer);
      sock.off('message', onMessage);
      resolve(msg.toString('hex'));
    };
    sock.on('message', onMessage);
    sock.send(bytes, 53, input.server);
  });
}

const replies: Array<string | null> = [];
for (const hex of input.messages) replies.push(await exchange(Buffer.from(hex, 'hex')));

let floodReplies = 0;
if (input.flood !== undefined) {
  let seed = input.flood.seed;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff);
  sock.on('message', () => floodReplies++);
  for (let i = 0; i < input.flood.count; i++) {
    sock.send(encodeDnsToBytes(dnsQuery(i & 0xffff, `r${rand().toString(36)}.${input.flood.suffix}`, DNS_TYPE.AAAA, null)), 53, input.server);
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 3000));
}
sock.close();
process.stdout.write(JSON.stringify({ replies, floodReplies }));
