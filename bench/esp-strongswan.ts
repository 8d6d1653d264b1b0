/**
 * The ESP tunnel benchmark's C reference (bench/esp-tunnel.ts): strongSwan's charon with the
 * kernel-libipsec plugin in two namespaces. The kernel here has no ESP, so libipsec does ESP
 * in userspace over a TUN device, UDP-encapsulated on port 4500 (PEERS.md), with the same
 * transform as turtle6's variants (AES-128-GCM, 16-byte ICV, tunnel mode):
 *
 *   G ── veth ── C1 (kernel forwards into charon's TUN; charon encrypts) ── veth ──
 *                C2 (charon decrypts into its TUN; kernel forwards) ── veth ── S
 *
 * IKEv2 with a pre-shared key sets the child SA up once; what is measured is its ESP. The
 * CPU counted is the two charon processes' (their ESP threads and TUN/socket syscalls); the
 * kernel's forwarding in and out of the TUNs runs in softirq and is not counted, as the
 * bridge between turtle6's routers is not. charon runs only inside `ip netns exec` (PEERS.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, run, shortName, type Netns, type TestBed } from '../test/helpers/netns.js';
import type { BenchBinaries } from './lib/build.js';
import { processCpuSeconds } from './lib/proc.js';
import { addressUp, DESTINATION_PREFIX, SINK_ADDR, TUNNEL_KEY, quiet, sinkSide, type TunnelPair } from './esp-topology.js';

const CHARON = '/usr/sbin/charon-systemd';
const C1_MID = '2001:db8:ff::1';
const C2_MID = '2001:db8:ff::2';
/** The generator's source prefix (gen.c sends from 2001:db8:1::100). */
const SOURCE_PREFIX = '2001:db8:1::/64';

/**
 * charon's own config: only the plugins this needs, kernel-libipsec before kernel-netlink so
 * that it provides the IPsec backend, the control socket in a private directory, and a log
 * (flushed per line, so that a failure can show it).
 */
function strongswanConf(dir: string): string {
  const plugins = 'random nonce openssl aes sha1 sha2 hmac gcm kdf pem pkcs1 x509 pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici updown';
  return `charon {
  load_modular = no
  load = ${plugins}
  install_routes = yes
  filelog {
    log { path = ${join(dir, 'charon.log')}
      flush_line = yes
      default = 1
      ike = 1
    }
  }
  plugins {
    vici { socket = unix://${join(dir, 'charon.vici')} }
  }
}
`;
}

function swanctlConf(local: 'c1' | 'c2'): string {
  const [me, peer] = local === 'c1' ? [C1_MID, C2_MID] : [C2_MID, C1_MID];
  const [localTs, remoteTs] = local === 'c1' ? [SOURCE_PREFIX, DESTINATION_PREFIX] : [DESTINATION_PREFIX, SOURCE_PREFIX];
  return `connections {
  bench {
    version = 2
    local_addrs = ${me}
    remote_addrs = ${peer}
    encap = yes
    proposals = aes128-sha256-x25519
    local { auth = psk
      id = ${local} }
    remote { auth = psk
      id = ${local === 'c1' ? 'c2' : 'c1'} }
    children {
      bench {
        mode = tunnel
        local_ts = ${localTs}
        remote_ts = ${remoteTs}
        esp_proposals = aes128gcm16
        replay_window = 1024
        start_action = ${local === 'c1' ? 'start' : 'none'}
      }
    }
  }
}
secrets {
  ike-bench { id-1 = c1
    id-2 = c2
    secret = 0x${TUNNEL_KEY} }
}
`;
}

async function startCharon(bed: TestBed, ns: Netns, dir: string, local: 'c1' | 'c2'): Promise<number> {
  const conf = join(dir, 'strongswan.conf');
  writeFileSync(conf, strongswanConf(dir));
  writeFileSync(join(dir, 'swanctl.conf'), swanctlConf(local));
  const child = bed.spawnIn(ns, CHARON, [], { env: { ...process.env, STRONGSWAN_CONF: conf } });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const uri = `unix://${join(dir, 'charon.vici')}`;
  await pollUntil(`charon in ${ns.name} to answer on its control socket`, () => {
    if (child.exitCode !== null) throw new Error(`charon in ${ns.name} exited with ${child.exitCode}: ${err}`);
    return ns.run('swanctl', ['--stats', '--uri', uri]).code === 0;
  }, 20_000);
  const loaded = ns.run('swanctl', ['--load-all', '--file', join(dir, 'swanctl.conf'), '--uri', uri]);
  if (loaded.code !== 0) throw new Error(`swanctl --load-all in ${ns.name}: ${loaded.stdout}${loaded.stderr}`);
  return child.pid!;
}

export async function strongswanPair(bed: TestBed, bins: BenchBinaries): Promise<TunnelPair> {
  requireCommand(CHARON, 'charon-systemd strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins');
  requireCommand('swanctl', 'strongswan-swanctl');
  const [g, c1, c2, s] = ['g', 'c1', 'c2', 's'].map((n) => bed.netns(`sw${n}`)) as [Netns, Netns, Netns, Netns];
  const [gIf, c1In, c1Mid, c2Mid, c2Out, sIf] = ['t6sg', 't6sa', 't6sb', 't6sc', 't6sd', 't6ss'].map(shortName) as [string, string, string, string, string, string];
  const veth = (a: Netns, aIf: string, b: Netns, bIf: string) => {
    a.ip('link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf);
    a.ip('link', 'set', bIf, 'netns', b.name);
  };
  veth(g, gIf, c1, c1In);
  veth(c1, c1Mid, c2, c2Mid);
  veth(c2, c2Out, s, sIf);
  for (const r of [c1, c2]) {
    for (const k of ['all', 'default']) {
      r.sysctl(`net.ipv6.conf.${k}.forwarding`, '1');
      r.sysctl(`net.ipv6.conf.${k}.accept_dad`, '0');
    }
  }
  addressUp(c1, c1In, '2001:db8:1::1/64');
  addressUp(c1, c1Mid, `${C1_MID}/64`);
  addressUp(c2, c2Mid, `${C2_MID}/64`);
  addressUp(c2, c2Out, '2001:db8:2::1/64');
  c2.ip('-6', 'route', 'add', DESTINATION_PREFIX, 'via', SINK_ADDR);
  // libipsec routes a child SA into its TUN from an address of this host inside the local
  // traffic selector; C2 gets one /128 in the destination prefix (the rest stays routed to S).
  c2.ip('addr', 'add', '2001:db8:99::fffe/128', 'dev', 'lo');
  quiet(g, gIf);
  const sink = await sinkSide(bed, bins, s, sIf);
  const [d1, d2] = [mkdtempSync(join(tmpdir(), 't6sw1-')), mkdtempSync(join(tmpdir(), 't6sw2-'))];
  bed.onCleanup(() => [d1, d2].forEach((d) => rmSync(d, { recursive: true, force: true })));
  const p2 = await startCharon(bed, c2, d2, 'c2');
  const p1 = await startCharon(bed, c1, d1, 'c1');
  await pollUntil('the strongSwan child SA to be installed', () => /INSTALLED, TUNNEL/.test(c1.run('swanctl', ['--list-sas', '--uri', `unix://${join(d1, 'charon.vici')}`]).stdout), 20_000).catch((e: Error) => {
    const tail = (d: string) => run('tail', ['-n', '25', join(d, 'charon.log')]).stdout;
    throw new Error(`${e.message}\ncharon C1:\n${tail(d1)}\ncharon C2:\n${tail(d2)}`);
  });
  const c1Mac = JSON.parse(c1.ip('-j', 'link', 'show', 'dev', c1In)) as Array<{ address: string }>;
  const version = run('dpkg-query', ['-W', '-f', '${Version}', 'charon-systemd']).stdout.trim();
  return {
    id: 'strongswan',
    description: `strongSwan ${version} charon × 2, kernel-libipsec (userspace ESP over TUN, UDP 4500), AES-128-GCM`,
    genNs: g,
    genIf: gIf,
    dstMac: c1Mac[0]!.address,
    sink,
    cpuSeconds: () => processCpuSeconds(p1) + processCpuSeconds(p2),
  };
}
