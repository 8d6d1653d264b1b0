/**
 * The ESP tunnel benchmark's "what users pick instead" reference (bench/esp-tunnel.ts, issue
 * 7 scenario 3): wireguard-go, a Go userspace VPN over TUN, in two namespaces. It is not ESP
 * (ChaCha20-Poly1305 over UDP), so it compares the job, not the protocol:
 *
 *   G ── veth ── W1 (kernel forwards into wireguard-go's TUN; it encrypts) ── veth ──
 *                W2 (wireguard-go decrypts into its TUN; the kernel forwards) ── veth ── S
 *
 * The keys are fixed (a benchmark needs no secrecy, and fixed keys keep runs identical). The
 * CPU counted is the two wireguard-go processes', as the two charons' for strongSwan.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, run, shortName, type Netns, type TestBed } from '../test/helpers/netns.js';
import type { BenchBinaries } from './lib/build.js';
import { processCpuSeconds } from './lib/proc.js';
import { addressUp, DESTINATION_PREFIX, SINK_ADDR, quiet, sinkSide, type TunnelPair } from './esp-topology.js';

const W1_MID = '2001:db8:ff::1';
const W2_MID = '2001:db8:ff::2';
const PORT = 51820;
/** gen.c's source prefix: W2 accepts from W1 only inner sources inside its allowed-ips. */
const SOURCE_PREFIX = '2001:db8:1::/64';

/** A fixed private key: 32 bytes of `fill`, base64 (wg clamps it, RFC 7748 §5). */
function privateKey(fill: number): string {
  return Buffer.alloc(32, fill).toString('base64');
}

function publicKey(priv: string): string {
  const r = run('sh', ['-c', `printf '%s' "$0" | wg pubkey`, priv]);
  if (r.code !== 0) throw new Error(`wg pubkey: ${r.stderr}`);
  return r.stdout.trim();
}

async function startWireguard(bed: TestBed, ns: Netns, ifname: string): Promise<number> {
  // -f: stay in the foreground, so the process we measure is the one that does the work.
  const child = bed.spawnIn(ns, 'wireguard-go', ['-f', ifname]);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await pollUntil(`wireguard-go in ${ns.name} to create ${ifname}`, () => {
    if (child.exitCode !== null) throw new Error(`wireguard-go in ${ns.name} exited with ${child.exitCode}: ${err}`);
    return ns.run('wg', ['show', ifname]).code === 0;
  }, 10_000);
  return child.pid!;
}

export async function wireguardPair(bed: TestBed, bins: BenchBinaries): Promise<TunnelPair> {
  requireCommand('wireguard-go', 'wireguard-go');
  requireCommand('wg', 'wireguard-tools');
  const [g, w1, w2, s] = ['g', 'w1', 'w2', 's'].map((n) => bed.netns(`wg${n}`)) as [Netns, Netns, Netns, Netns];
  const [gIf, w1In, w1Mid, w2Mid, w2Out, sIf, wg1, wg2] = ['t6wg', 't6wa', 't6wb', 't6wc', 't6wd', 't6ws', 't6w1', 't6w2'].map(shortName) as [string, string, string, string, string, string, string, string];
  const veth = (a: Netns, aIf: string, b: Netns, bIf: string) => {
    a.ip('link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf);
    a.ip('link', 'set', bIf, 'netns', b.name);
  };
  veth(g, gIf, w1, w1In);
  veth(w1, w1Mid, w2, w2Mid);
  veth(w2, w2Out, s, sIf);
  for (const r of [w1, w2]) r.sysctl('net.ipv6.conf.all.forwarding', '1');
  addressUp(w1, w1In, '2001:db8:1::1/64');
  addressUp(w1, w1Mid, `${W1_MID}/64`);
  addressUp(w2, w2Mid, `${W2_MID}/64`);
  addressUp(w2, w2Out, '2001:db8:2::1/64');
  w2.ip('-6', 'route', 'add', DESTINATION_PREFIX, 'via', SINK_ADDR);
  quiet(g, gIf);
  const sink = await sinkSide(bed, bins, s, sIf);

  // wireguard-go's control sockets live in /var/run/wireguard/, shared by every namespace:
  // the interface names (unique per run) keep them apart.
  const dir = mkdtempSync(join(tmpdir(), 't6wg-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const keys = [privateKey(0x11), privateKey(0x22)] as const;
  const files = keys.map((k, i) => {
    const f = join(dir, `key${i + 1}`);
    writeFileSync(f, k, { mode: 0o600 });
    return f;
  });
  const pids = [await startWireguard(bed, w1, wg1), await startWireguard(bed, w2, wg2)];
  w1.runOk('wg', ['set', wg1, 'private-key', files[0]!, 'listen-port', String(PORT), 'peer', publicKey(keys[1]), 'endpoint', `[${W2_MID}]:${PORT}`, 'allowed-ips', DESTINATION_PREFIX]);
  w2.runOk('wg', ['set', wg2, 'private-key', files[1]!, 'listen-port', String(PORT), 'peer', publicKey(keys[0]), 'endpoint', `[${W1_MID}]:${PORT}`, 'allowed-ips', SOURCE_PREFIX]);
  w1.ip('link', 'set', wg1, 'up');
  w2.ip('link', 'set', wg2, 'up');
  w1.ip('-6', 'route', 'add', DESTINATION_PREFIX, 'dev', wg1);
  const inMac = JSON.parse(w1.ip('-j', 'link', 'show', 'dev', w1In)) as Array<{ address: string }>;
  const version = run('dpkg-query', ['-W', '-f', '${Version}', 'wireguard-go']).stdout.trim();
  return {
    id: 'wireguard',
    description: `wireguard-go ${version} × 2 (userspace over TUN, ChaCha20-Poly1305; not ESP)`,
    genNs: g,
    genIf: gIf,
    dstMac: inMac[0]!.address,
    sink,
    cpuSeconds: () => pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0),
  };
}
