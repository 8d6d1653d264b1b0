/**
 * examples/turtle6.service, the unit for installs without Docker: systemd-analyze verify
 * accepts it with no warning, it has the keys the README promises, and what it relies on
 * holds: turtle6 sends READY=1 on $NOTIFY_SOCKET once up (Type=notify), RELOADING=1 and
 * READY=1 around the reload its ExecReload triggers, STOPPING=1 on SIGTERM, all while
 * running with CAP_NET_ADMIN as its only capability (CapabilityBoundingSet).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { sdNotify } from '../../src/app/sd-notify.js';
import { pollUntil, requireCommand, run, shortName, TestBed } from '../helpers/netns.js';
import { onePortConfig, startRouter, TURTLE6 } from '../helpers/router.js';

const UNIT = resolve(import.meta.dirname, '../../../examples/turtle6.service');

/** The unit's keys: section → key → values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | null = null;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      sections.set(header[1]!, (current = new Map()));
      continue;
    }
    const kv = /^(\w+)=(.*)$/.exec(line);
    assert.ok(kv && current, `turtle6.service line ${i + 1} is not KEY=value in a section: ${raw}`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

/** A Unix datagram receiver (python3: Node has none) that prints each datagram as a JSON line. */
const RECEIVER = String.raw`
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1].replace('@', '\0', 1) if sys.argv[1].startswith('@') else sys.argv[1])
print('"bound"', flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

function receiver(bed: TestBed, address: string): { child: ChildProcess; messages: () => string[] } {
  requireCommand('python3', 'python3');
  const child = bed.spawn('python3', ['-c', RECEIVER, address]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, messages: () => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as string) };
}

test('examples/turtle6.service: systemd-analyze verify, its promises, and sd_notify from turtle6 with only CAP_NET_ADMIN', async (t) => {
  const text = readFileSync(UNIT, 'utf8');
  const unit = parseUnit(text);
  const service = unit.get('Service')!;
  const one = (key: string) => {
    const v = service.get(key);
    assert.equal(v?.length, 1, `[Service] ${key} once`);
    return v![0]!;
  };

  await t.test('the keys the README promises', () => {
    assert.equal(one('Type'), 'notify');
    assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.match(one('ExecStart'), /^\/usr\/local\/bin\/turtle6 run --config \/etc\/turtle6\/turtle6\.yaml$/);
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN');
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_ADMIN');
    assert.equal(one('ProtectSystem'), 'strict');
    assert.equal(one('ProtectHome'), 'yes');
    assert.equal(one('PrivateTmp'), 'yes');
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.equal(one('DeviceAllow'), '/dev/net/tun rw');
    // The defaults of control.socket and stateDir are where the unit gives turtle6 room to write.
    assert.equal(one('RuntimeDirectory'), 'turtle6');
    assert.equal(one('StateDirectory'), 'turtle6');
    assert.equal(one('ReadWritePaths'), '/var/lib/turtle6');
    // Kept off on purpose (the unit says why): turtle6 writes its devices' sysctls.
    assert.equal(service.get('ProtectKernelTunables'), undefined);
    assert.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');
  });

  await t.test('systemd-analyze verify', () => {
    requireCommand('systemd-analyze', 'systemd');
    // verify wants the ExecStart program to exist: this build's turtle6 stands in for the installed one.
    const dir = mkdtempSync(join(tmpdir(), 't6unit-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(TURTLE6, 0o755);
    const copy = join(dir, 'turtle6.service');
    writeFileSync(copy, text.replaceAll('/usr/local/bin/turtle6', TURTLE6));
    const r = run('systemd-analyze', ['verify', '--man=no', copy]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warning (an unknown or misspelt key is one)');
    // A misspelt key is reported, so the check above can fail.
    writeFileSync(copy, text.replaceAll('/usr/local/bin/turtle6', TURTLE6).replace('ProtectSystem=strict', 'ProtectSytem=strict'));
    assert.match(run('systemd-analyze', ['verify', '--man=no', copy]).stderr, /Unknown key 'ProtectSytem'/);
  });

  await t.test('sdNotify: a path and an abstract name; nothing without NOTIFY_SOCKET', async () => {
    const bed = new TestBed('sdn');
    t.after(() => bed.cleanup());
    const dir = mkdtempSync(join(tmpdir(), 't6sdn-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const address of [join(dir, 'notify'), `@t6-${shortName('n')}`]) {
      const rx = receiver(bed, address);
      await pollUntil('the receiver to bind', () => rx.messages().includes('bound'), 10_000);
      assert.equal(sdNotify('READY=1\nSTATUS=x', { NOTIFY_SOCKET: address }), true);
      await pollUntil(`READY=1 at ${address}`, () => rx.messages().includes('READY=1\nSTATUS=x'), 10_000);
    }
    assert.equal(sdNotify('READY=1', {}), false);
    assert.throws(() => sdNotify('READY=1', { NOTIFY_SOCKET: join(dir, 'nobody') }), /sendto.*ENOENT|ECONNREFUSED/);
  });

  await t.test('turtle6 under the unit\'s capability bound: READY=1, reload by ExecReload, STOPPING=1', async () => {
    requireCommand('setpriv', 'util-linux');
    const bed = new TestBed('sdu');
    t.after(() => bed.cleanup());
    const dir = mkdtempSync(join(tmpdir(), 't6sdu-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const address = join(dir, 'notify');
    const rx = receiver(bed, address);
    await pollUntil('the receiver to bind', () => rx.messages().includes('bound'), 10_000);
    const r = bed.netns('r');
    const if1 = shortName('t6n');
    const router = await startRouter(bed, r, onePortConfig(if1), 20_000, {
      // Root, as under the unit, holding CAP_NET_ADMIN only: what CapabilityBoundingSet leaves.
      command: ['setpriv', '--bounding-set=-all,+net_admin', '--inh-caps=-all,+net_admin', process.execPath, TURTLE6],
      env: { NOTIFY_SOCKET: address },
    });
    const pid = router.process.pid!;
    const caps = readFileSync(`/proc/${pid}/status`, 'utf8');
    assert.match(caps, /^CapEff:\s+0*1000$/m, 'only CAP_NET_ADMIN (bit 12) is effective');
    await pollUntil('READY=1', () => rx.messages().includes('READY=1\nSTATUS=forwarding'), 10_000);
    assert.ok(router.output().includes('turtle6 is up'), 'READY=1 comes once turtle6 is up');

    const reload = one('ExecReload').replace('$MAINPID', String(pid)).split(' ');
    assert.equal(run(reload[0]!, reload.slice(1)).code, 0);
    await pollUntil('READY=1 after the reload', () => rx.messages().filter((m) => m === 'READY=1\nSTATUS=forwarding').length === 2, 10_000);
    const reloading = rx.messages().find((m) => m.startsWith('RELOADING=1\n'));
    assert.match(reloading ?? '', /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    assert.ok(rx.messages().indexOf(reloading!) < rx.messages().lastIndexOf('READY=1\nSTATUS=forwarding'), 'RELOADING=1 before READY=1');

    await router.stop();
    assert.equal(router.process.exitCode, 0, router.output());
    await pollUntil('STOPPING=1', () => rx.messages().includes('STOPPING=1'), 10_000);
  });
});
