/**
 * `turtle6 lab`: up (detached and in the foreground), the printed tour, turtle6ctl against the
 * lab's router, and `down` leaving nothing behind, also after an `up` that failed part-way.
 *
 * The lab's namespace names are fixed (t6-r0, t6-r1, t6-h0, t6-h1, t6-h2) and this is the only
 * test that creates them. Other tests and examples may use t6-h1/t6-h2 for their own hosts,
 * so each test here first waits (bounded) until none of the lab's names exists. The run
 * directory is private to the test, so a lab a person left running keeps its own records.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, run, runOk } from '../helpers/netns.js';
import { TURTLE6, TURTLE6CTL } from '../helpers/router.js';

const LAB_NAMESPACES = ['t6-r0', 't6-r1', 't6-h0', 't6-h1', 't6-h2'];

function presentNamespaces(): string[] {
  return LAB_NAMESPACES.filter((ns) => existsSync(join('/run/netns', ns)));
}

/** PIDs of processes whose command line mentions the run directory (the lab's routers). */
function labProcesses(runDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(runDir)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

interface LabRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `turtle6 lab ACTION [ARGS]` to completion (bounded), with the test's run directory. */
function lab(runDir: string, action: string, env: Record<string, string> = {}, timeoutMs = 120_000, args: string[] = []): Promise<LabRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TURTLE6, 'lab', action, ...args], {
      env: { ...process.env, TURTLE6_LAB_DIR: runDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`turtle6 lab ${action} did not finish within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function labTest(name: string, body: (runDir: string) => Promise<void>): Promise<void> {
  await test(name, { timeout: 240_000 }, async (t) => {
    requireCommand('ping', 'iputils-ping');
    await pollUntil(`no lab namespace (${LAB_NAMESPACES.join(', ')}) to exist; another test may be using t6-h1/t6-h2`, () => presentNamespaces().length === 0, 120_000, 250);
    const runDir = mkdtempSync(join(tmpdir(), 't6lab-'));
    t.after(async () => {
      await lab(runDir, 'down');
      rmSync(runDir, { recursive: true, force: true });
    });
    await body(runDir);
  });
}

function assertNothingLeft(runDir: string): void {
  assert.deepEqual(presentNamespaces(), [], 'lab namespaces left behind');
  assert.deepEqual(labProcesses(runDir), [], 'lab processes left behind');
}

await labTest('lab up --detach builds both routers, prints the tour, and down removes everything', async (runDir) => {
  const up = await lab(runDir, 'up', {}, 120_000, ['--detach']);
  assert.equal(up.code, 0, `lab up failed:\n${up.stdout}\n${up.stderr}`);
  const text = up.stdout;

  // Each host formed an address in its own prefix.
  const addresses = new Map<string, string>();
  for (const [ns, prefix] of [['t6-h1', '2001:db8:1:'], ['t6-h2', '2001:db8:2:'], ['t6-h0', '2001:db8:100:']] as const) {
    const m = new RegExp(`${ns}\\s+\\S+\\s+(${prefix}[0-9a-f:]+)`).exec(text);
    assert.ok(m, `no SLAAC address of ${ns} in the output:\n${text}`);
    addresses.set(ns, m[1]!);
  }
  for (const heading of ['== Hosts', '== Prefix delegation', '== Routes on r1', '== RIPng on r1', '== Pings', '== Metrics', '== Poke at it']) {
    assert.ok(text.includes(heading), `missing section "${heading}":\n${text}`);
  }
  // The lab waited for RIPng before pinging, and prints what r1 learned from r0.
  assert.ok(text.indexOf('RIPng converged') < text.indexOf('== Pings'), text);
  assert.match(text, /\* 2001:db8:100::\/64\s+ripng\s+via fe80::/, 'show routes lists the RIPng route');
  const ripngSection = text.slice(text.indexOf('== RIPng on r1'), text.indexOf('== Pings'));
  assert.match(ripngSection, /wan0\s+fe80::\S+\s+\d+s ago/, 'r0 is a RIPng neighbour on wan0');
  assert.match(ripngSection, /2001:db8:100::\/64\s+2\s+0x0\s+fe80::\S+%wan0\s+rip\s+active/);
  // Both pings are reported as ok, with ping's own summary underneath.
  for (const target of ['t6-h2', 't6-h0']) {
    assert.match(text, new RegExp(`t6-h1 -> ${target} \\(\\S+\\): ok\\n\\s+3 packets transmitted, [1-3] received`));
  }
  assert.match(text, /turtle6_interface_rx_packets_total\{interface="lan0"\} [1-9]\d*/);
  // Every command the tour prints ("  $ …") works exactly as printed, in a plain shell:
  // absolute paths, the test's run directory named, no sudo for a root who did not use it.
  const printed = [...text.matchAll(/^ *\$ (.+)$/gm)].map((m) => m[1]!);
  assert.ok(printed.some((c) => c.includes(`turtle6ctl.js --socket ${join(runDir, 'r1.sock')} show routes`)), text);
  assert.ok(printed.some((c) => c.includes(`curl -s http://[::1]:9469/metrics`)), text);
  const labStatus = printed.find((c) => c.endsWith(' lab status'));
  const labDown = printed.find((c) => c.endsWith(' lab down'));
  assert.equal(labStatus, `env TURTLE6_LAB_DIR=${runDir} node ${TURTLE6} lab status`);
  assert.ok(labDown, text);
  assert.ok(printed.every((c) => !c.startsWith('sudo ')), 'no sudo: the test runs as root, not through sudo');
  for (const command of printed.filter((c) => c !== labStatus && c !== labDown)) {
    const r = run('sh', ['-c', command]);
    assert.equal(r.code, 0, `printed command failed as typed: ${command}\n${r.stdout}${r.stderr}`);
    assert.notEqual(r.stdout, '', `${command} printed nothing`);
  }
  assert.ok(existsSync(join(runDir, 'r1.yaml')) && existsSync(join(runDir, 'r0.log')), 'configs and logs are kept in the run directory');

  // turtle6ctl against the lab's routers: each holds its own LANs and the other's, learned by RIPng
  // from the other's link-local address on their shared link; no static routes are left.
  const bestRoutes = (role: string) => {
    const routes = JSON.parse(runOk(process.execPath, [TURTLE6CTL, '--socket', join(runDir, `${role}.sock`), '--json', 'show', 'routes'])) as Array<{
      prefix: string;
      origin: string;
      best: boolean;
      metric: number;
      nexthops: Array<{ interface: string; gateway: string | null }>;
    }>;
    assert.ok(!routes.some((r) => r.origin === 'static'), JSON.stringify(routes));
    return new Map(routes.filter((r) => r.best).map((r) => [r.prefix, r]));
  };
  const r1 = bestRoutes('r1');
  assert.equal(r1.get('2001:db8:1::/64')?.origin, 'connected');
  assert.equal(r1.get('2001:db8:2::/64')?.origin, 'connected');
  const r1To100 = r1.get('2001:db8:100::/64');
  assert.equal(r1To100?.origin, 'ripng', JSON.stringify([...r1.values()]));
  assert.equal(r1To100.metric, 2);
  assert.equal(r1To100.nexthops[0]?.interface, 'wan0');
  assert.match(r1To100.nexthops[0]?.gateway ?? '', /^fe80::/);
  // r1's default route is learned from r0's RAs on wan0 (RFC 7084 W-1), not configured.
  const r1Default = r1.get('::/0');
  assert.equal(r1Default?.origin, 'ra', JSON.stringify([...r1.values()]));
  assert.equal(r1Default.nexthops[0]?.interface, 'wan0');
  assert.match(r1Default.nexthops[0]?.gateway ?? '', /^fe80::/);
  const r0 = bestRoutes('r0');
  for (const prefix of ['2001:db8:1::/64', '2001:db8:2::/64']) {
    assert.equal(r0.get(prefix)?.origin, 'ripng', `${prefix} on r0: ${JSON.stringify([...r0.values()])}`);
    assert.equal(r0.get(prefix)?.nexthops[0]?.interface, 'down0');
  }

  // Traffic crosses both routers for us too, not only for the lab's own check.
  const crossing = run('ip', ['netns', 'exec', 't6-h2', 'ping', '-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', addresses.get('t6-h0')!]);
  assert.equal(crossing.code, 0, crossing.stdout + crossing.stderr);

  // Prefix delegation: r0's server gave r1 a /56 of its pool, shown on both sides.
  const delegated = /prefix delegated: r0 gave r1 (2001:db8:f0[0-9a-f]{2}::\/56)\n/.exec(text);
  assert.ok(delegated, `the lab names the delegated prefix:\n${text}`);
  const prefix = delegated[1]!;
  const pdSection = text.slice(text.indexOf('== Prefix delegation'), text.indexOf('== Routes on r1'));
  assert.match(pdSection, new RegExp(`gave r1 ${prefix.replace(/[/.]/g, '\\$&')} \\(from 2001:db8:f000::/48\\)`));
  assert.match(pdSection, /state: bound/, 'show dhcp client on r1');
  assert.ok(pdSection.includes(`${prefix}  IA_PD`), `show dhcp client lists ${prefix}:\n${pdSection}`);
  assert.match(pdSection, new RegExp(`${prefix.replace(/[/.]/g, '\\$&')}\\s+IA_PD\\s+00:01:\\S+\\s+1\\s+down0\\s+-\\s+bound`), 'show dhcp leases on r0, on down0, not relayed');
  // sla-id 1 and 2 number lan0 and lan1 inside the /56.
  const base = prefix.replace(/::\/56$/, '');
  const slaSubnet = (sla: number) => {
    const groups = base.split(':');
    return `${groups.slice(0, 3).join(':')}:${(parseInt(groups[3] ?? '0', 16) | sla).toString(16)}`;
  };
  const ctlJson = (role: string, ...command: string[]) => JSON.parse(runOk(process.execPath, [TURTLE6CTL, '--socket', join(runDir, `${role}.sock`), '--json', ...command])) as unknown;
  const client = ctlJson('r1', 'show', 'dhcp', 'client') as { phase: string; leases: Array<{ lease: string; kind: string }>; prefixInterfaces: Array<{ interface: string; address: string }> };
  assert.equal(client.phase, 'bound');
  assert.deepEqual(client.leases.filter((l) => l.kind === 'IA_PD').map((l) => l.lease), [prefix]);
  assert.deepEqual(client.prefixInterfaces, [
    { interface: 'lan0', address: `${slaSubnet(1)}::1/64` },
    { interface: 'lan1', address: `${slaSubnet(2)}::1/64` },
  ]);
  const leases = ctlJson('r0', 'show', 'dhcp', 'leases') as { leases: Array<{ lease: string; kind: string }> };
  assert.ok(leases.leases.some((l) => l.kind === 'IA_PD' && l.lease === prefix), JSON.stringify(leases));
  // r0 routes the delegated prefix to r1 for as long as the lease lasts.
  const r0Delegated = r0.get(prefix);
  assert.equal(r0Delegated?.origin, 'dhcpv6', JSON.stringify([...r0.values()]));
  assert.equal(r0Delegated.nexthops[0]?.interface, 'down0');

  // Each host on r1 formed a second address in its delegated /64, and the kernel agrees.
  for (const [ns, ifname, sla] of [['t6-h1', 'lan0', 1], ['t6-h2', 'lan1', 2]] as const) {
    const m = new RegExp(`${ns}\\s+(${slaSubnet(sla)}:[0-9a-f:]+)\\s+\\(delegated\\)`).exec(pdSection);
    assert.ok(m, `no delegated address of ${ns} in the output:\n${pdSection}`);
    assert.ok(run('ip', ['-n', ns, '-6', '-o', 'addr', 'show', 'dev', ifname]).stdout.includes(`inet6 ${m[1]}/64`), `${ns} holds ${m[1]}`);
    if (ns === 't6-h2') {
      // A ping from that address crosses r1 and r0, and r0 sends the reply back by its delegation route.
      const fromDelegated = run('ip', ['netns', 'exec', ns, 'ping', '-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-I', m[1]!, addresses.get('t6-h0')!]);
      assert.equal(fromDelegated.code, 0, fromDelegated.stdout + fromDelegated.stderr);
    }
  }
  assert.match(text, /t6-h1 from 2001:db8:f0\S+ \(delegated\) -> t6-h0 \(\S+\): ok\n\s+3 packets transmitted, [1-3] received/);

  // The printed status and down, as typed.
  const status = run('sh', ['-c', labStatus]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /r1: pid \d+ running/);
  assert.match(status.stdout, /r0: pid \d+ running/);
  assert.equal(labProcesses(runDir).length, 2);

  const down = run('sh', ['-c', labDown]);
  assert.equal(down.code, 0, down.stderr);
  assertNothingLeft(runDir);
  const again = await lab(runDir, 'down');
  assert.equal(again.code, 0, `a second down must be harmless: ${again.stderr}`);
});

await labTest('lab up that fails part-way (t6-h0 taken) removes what it built; down leaves nothing', async (runDir) => {
  // t6-h0 is created after r1 runs, so this conflict strikes with a router process alive.
  runOk('ip', ['netns', 'add', 't6-h0']);
  try {
    const up = await lab(runDir, 'up', { TURTLE6_LAB_DETACH: '1' });
    assert.notEqual(up.code, 0);
    assert.match(up.stdout, /r1 is up in t6-r1/, 'the failure must come after r1 started');
    assert.match(up.stderr, /cannot create namespace t6-h0/);
    const down = await lab(runDir, 'down');
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(presentNamespaces(), ['t6-h0'], 'only the stranger t6-h0 may remain');
    assert.deepEqual(labProcesses(runDir), []);
  } finally {
    run('ip', ['netns', 'del', 't6-h0']);
  }
  assertNothingLeft(runDir);
});

await labTest('lab up in the foreground runs until SIGINT (Ctrl-C), then tears down', async (runDir) => {
  const child = spawn(process.execPath, [TURTLE6, 'lab', 'up'], {
    env: { ...process.env, TURTLE6_LAB_DIR: runDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await pollUntil(
      'the foreground lab to be up',
      () => {
        if (child.exitCode !== null) throw new Error(`lab up exited with ${child.exitCode}:\n${output}`);
        return output.includes('until you press Ctrl-C');
      },
      120_000,
      100,
    );
    assert.equal(labProcesses(runDir).length, 2);
    child.kill('SIGINT');
    await pollUntil('the foreground lab to exit', () => child.exitCode !== null, 30_000, 100);
    assert.equal(child.exitCode, 0, output);
    assert.match(output, /signal received; tearing the lab down/);
    assertNothingLeft(runDir);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
