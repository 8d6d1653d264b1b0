/**
 * turtle6ctl, the real client, against the real appliance running in a test namespace: the
 * human tables carry their headers and the rows that must be there, every --json answer
 * matches a schema with exact keys and types, reload and config diff report what they
 * should, and mistakes and strangers get clear refusals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { DROPS, TRAFFIC } from '../../src/dataplane/counters.js';
import { STACK_DROPS } from '../../src/stack/stack.js';
import { SECTIONS } from '../../src/config/sections/index.js';
import { pollUntil, shortName, TestBed, type ExecResult, type Netns } from '../helpers/netns.js';
import { startRouter, TURTLE6CTL, TURTLE6CTL_AS_NOBODY, type RunningRouter } from '../helpers/router.js';

const count = z.number().int().nonnegative();
const macText = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
const prefixText = z.string().regex(/^[0-9a-f:]+\/\d{1,3}$/);
const addressText = z.string().regex(/^[0-9a-f:]+$/);

/** src/app/show.ts, `show interfaces`. */
const interfacesSchema = z.array(
  z.strictObject({
    name: z.string(),
    port: count,
    kind: z.enum(['tap', 'tun']),
    up: z.boolean(),
    mtu: count,
    mac: macText.nullable(),
    addresses: z.array(
      z.strictObject({
        address: prefixText,
        state: z.enum(['tentative', 'preferred', 'duplicate']),
        origin: z.enum(['config', 'link-local', 'dhcpv6', 'slaac']),
      }),
    ),
    netns: z.string().nullable(),
    attach: z.string().nullable(),
  }),
);

/** `show routes`. */
const routesSchema = z.array(
  z.strictObject({
    prefix: prefixText,
    origin: z.string(),
    kind: z.enum(['unicast', 'local', 'reject', 'blackhole']),
    preference: count,
    metric: count,
    best: z.boolean(),
    nexthops: z.array(z.strictObject({ interface: z.string(), gateway: addressText.nullable(), packets: z.number().int().nonnegative().nullable() })),
  }),
);

/** `show neighbors`. */
const neighborsSchema = z.array(
  z.strictObject({
    interface: z.string(),
    address: addressText,
    mac: macText.nullable(),
    state: z.enum(['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE']),
    router: z.boolean(),
    expiresInMs: count,
  }),
);

/** `show lanes`: LaneSet.status() plus the lane's received packets. */
const lanesSchema = z.array(
  z.strictObject({
    lane: count,
    running: z.boolean(),
    starts: count,
    restarts: count,
    restartReasons: z.strictObject({ crash: count, wedged: count }),
    deaths: count,
    failing: z.boolean(),
    lastRestartDelayMs: count,
    lastError: z.string().nullable(),
    puntRing: count,
    injectRing: count,
    queues: count,
    rxPackets: count,
    forwarded: count,
  }),
);

/** Exactly these keys, each a count. */
function countsOf(names: readonly string[]) {
  return z.strictObject(Object.fromEntries(names.map((n) => [n, count])) as Record<string, typeof count>);
}

/** `show counters`: every lane counter per interface, and the control plane's drops. */
const countersSchema = z.strictObject({
  interfaces: z.array(z.strictObject({ interface: z.string(), counters: countsOf([...TRAFFIC, ...DROPS].map((c) => c.name)) })),
  controlPlane: countsOf(STACK_DROPS),
});

/** `show config`: the running config with defaults; the sections this test configures are checked in full. */
const configSchema = z
  .looseObject({
    interfaces: z.array(
      z.looseObject({ name: z.string(), kind: z.enum(['tap', 'tun']), mtu: count, addresses: z.array(prefixText), netns: z.string().nullable() }),
    ),
    routes: z.array(
      z.strictObject({
        prefix: prefixText,
        nexthops: z.array(z.strictObject({ via: addressText, interface: z.string().nullable() })),
        reject: z.boolean(),
        blackhole: z.boolean(),
        preference: count,
      }),
    ),
    control: z.strictObject({ socket: z.string() }),
    stateDir: z.string(),
  })
  // Every key is a config section; the core sections (which have defaults) are always there,
  // protocol sections (ripng, dhcpv6, dns, ipsec) only when configured.
  .refine((c) => Object.keys(c).every((k) => SECTIONS.some((s) => s.name === k)), 'only config sections')
  .refine((c) => CORE_SECTIONS.every((k) => k in c), 'every core section');

const CORE_SECTIONS = ['interfaces', 'routes', 'dataplane', 'nd', 'metrics', 'log', 'control', 'stateDir'];

/** `reload`, when nothing changed. */
const reloadSchema = z.strictObject({ ok: z.literal(true), changes: z.array(z.unknown()) });

/** `config diff`. */
const diffSchema = z.array(
  z.strictObject({ path: z.string(), kind: z.enum(['added', 'removed', 'changed']), before: z.unknown().optional(), after: z.unknown().optional() }),
);

interface Lab {
  readonly router: RunningRouter;
  readonly r: Netns;
  readonly if1: string;
  readonly if2: string;
  readonly configFile: string;
  /** turtle6ctl inside the router's namespace. */
  ctl(...args: string[]): ExecResult;
  json<T>(schema: z.ZodType<T>, ...args: string[]): T;
}

const H1 = '2001:db8:1::10';

async function lab(bed: TestBed): Promise<Lab> {
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  const if1 = shortName('t6c');
  const if2 = shortName('t6d');
  const router = await startRouter(
    bed,
    r,
    `
interfaces:
  - name: ${if1}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
  - name: ${if2}
    mtu: 1400
    addresses: [2001:db8:2::1/64]
    netns: ${h2.name}
routes:
  - prefix: 2001:db8:77::/48
    via: 2001:db8:2::77
  - prefix: 2001:db8:dead::/48
    reject: true
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
`,
  );
  // A neighbour for `show neighbors`: h1 pings the router, which resolves h1 to answer.
  h1.ip('addr', 'add', `${H1}/64`, 'dev', if1, 'nodad');
  await pollUntil('h1 to reach the router', () => h1.run('ping', ['-6', '-n', '-c', '1', '-W', '1', '2001:db8:1::1']).code === 0, 15_000, 100);
  const ctl = (...args: string[]) => r.run(process.execPath, [TURTLE6CTL, '--socket', router.socket, ...args]);
  const json = <T>(schema: z.ZodType<T>, ...args: string[]): T => {
    const out = ctl('--json', ...args);
    assert.equal(out.code, 0, `turtle6ctl --json ${args.join(' ')}: ${out.stderr}`);
    const parsed = schema.safeParse(JSON.parse(out.stdout));
    assert.ok(parsed.success, `turtle6ctl --json ${args.join(' ')} does not match its schema: ${parsed.error ? z.prettifyError(parsed.error) : ''}\n${out.stdout}`);
    return parsed.data;
  };
  return { router, r, if1, if2, configFile: join(router.dir, 'turtle6.yaml'), ctl, json };
}

/** The rows of a human table, split on its two-space column gaps; the first row is the header. */
function table(text: string): string[][] {
  return text.trimEnd().split('\n').map((line) => line.trim().split(/ {2,}/));
}

function ok(result: ExecResult, what: string): string {
  assert.equal(result.code, 0, `${what} exited ${result.code}: ${result.stderr}`);
  assert.equal(result.stderr, '', `${what} wrote to stderr`);
  return result.stdout;
}

test('turtle6ctl against a running turtle6: show, reload, config diff, errors and access', async (t) => {
  const bed = new TestBed('ctl');
  t.after(() => bed.cleanup());
  const l = await lab(bed);

  await t.test('show interfaces', () => {
    const rows = table(ok(l.ctl('show', 'interfaces'), 'show interfaces'));
    assert.deepEqual(rows[0], ['Interface', 'Kind', 'State', 'MTU', 'MAC', 'Addresses']);
    const row1 = rows.find((r) => r[0] === l.if1);
    const row2 = rows.find((r) => r[0] === l.if2);
    assert.ok(row1 && row2, `both interfaces listed:\n${rows.join('\n')}`);
    assert.deepEqual(row1.slice(1, 4), ['tap', 'up', '1500']);
    assert.deepEqual(row2.slice(1, 4), ['tap', 'up', '1400']);
    assert.match(row1[4]!, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.match(row1[5]!, /^fe80::\S+\/64 2001:db8:1::1\/64$/);

    const data = l.json(interfacesSchema, 'show', 'interfaces');
    assert.deepEqual(data.map((i) => [i.name, i.port, i.mtu]), [[l.if1, 0, 1500], [l.if2, 1, 1400]]);
    assert.deepEqual(data[0]!.addresses.find((a) => a.origin === 'config'), { address: '2001:db8:1::1/64', state: 'preferred', origin: 'config' });
    assert.equal(data[0]!.mac, row1[4]);
  });

  await t.test('show routes', () => {
    const rows = table(ok(l.ctl('show', 'routes'), 'show routes'));
    assert.deepEqual(rows[0], ['Prefix', 'Origin', 'Next hop', 'Pref/Metric']);
    const expect = [
      ['* 2001:db8:1::/64', 'connected', `dev ${l.if1}`, '0/0'],
      ['* 2001:db8:2::/64', 'connected', `dev ${l.if2}`, '0/0'],
      ['* 2001:db8:1::1/128', 'local', 'local', '0/0'],
      ['* 2001:db8:77::/48', 'static', `via 2001:db8:2::77 dev ${l.if2}`, '10/0'],
      ['* 2001:db8:dead::/48', 'static', 'reject', '10/0'],
    ];
    for (const row of expect) assert.ok(rows.some((r) => JSON.stringify(r) === JSON.stringify(row)), `row ${row.join(' | ')} in:\n${rows.map((r) => r.join(' | ')).join('\n')}`);

    const data = l.json(routesSchema, 'show', 'routes');
    assert.deepEqual(data.find((r) => r.prefix === '2001:db8:77::/48'), {
      prefix: '2001:db8:77::/48', origin: 'static', kind: 'unicast', preference: 10, metric: 0, best: true,
      nexthops: [{ interface: l.if2, gateway: '2001:db8:2::77', packets: null }],
    });
    assert.equal(data.length, rows.length - 1, 'the table and the JSON list the same routes');
  });

  await t.test('show neighbors', () => {
    const rows = table(ok(l.ctl('show', 'neighbors'), 'show neighbors'));
    assert.deepEqual(rows[0], ['Address', 'Interface', 'MAC', 'State']);
    const row = rows.find((r) => r[0] === H1);
    assert.ok(row, `h1 is a neighbour:\n${rows.join('\n')}`);
    assert.equal(row[1], l.if1);
    assert.match(row[2]!, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.match(row[3]!, /^(REACHABLE|STALE|DELAY|PROBE)$/);

    const data = l.json(neighborsSchema, 'show', 'neighbors');
    const h1 = data.find((n) => n.address === H1);
    assert.deepEqual([h1?.interface, h1?.mac, h1?.router], [l.if1, row[2], false]);
  });

  await t.test('show lanes', () => {
    const rows = table(ok(l.ctl('show', 'lanes'), 'show lanes'));
    assert.deepEqual(rows, [
      ['Lane', 'State', 'Starts', 'Crashed/Wedged', 'Queues', 'Punt ring', 'Inject ring', 'RX packets', 'Forwarded', 'Last error'],
      ['0', 'running', '1', '0/0', '2', rows[1]![5]!, rows[1]![6]!, rows[1]![7]!, rows[1]![8]!, '-'],
    ]);
    assert.match(rows[1]![5]!, /^\d+\/\d+$/);
    const data = l.json(lanesSchema, 'show', 'lanes');
    assert.equal(data.length, 1);
    assert.deepEqual([data[0]!.lane, data[0]!.running, data[0]!.starts, data[0]!.restarts, data[0]!.failing, data[0]!.queues], [0, true, 1, 0, false, 2]);
    assert.ok(data[0]!.rxPackets > 0, 'the lane received the pings');
  });

  await t.test('show counters', () => {
    const rows = table(ok(l.ctl('show', 'counters'), 'show counters'));
    assert.deepEqual(rows[0], ['Interface', 'Counter', 'Value']);
    const rx = rows.find((r) => r[0] === l.if1 && r[1] === 'rx_packets');
    assert.ok(rx && Number(rx[2]) > 0, `rx_packets of ${l.if1}:\n${rows.join('\n')}`);
    assert.ok(rows.slice(1).every((r) => r.length === 3 && /^\d+$/.test(r[2]!) && r[2] !== '0'), 'only non-zero counters, as numbers');

    const data = l.json(countersSchema, 'show', 'counters');
    assert.deepEqual(data.interfaces.map((i) => i.interface), [l.if1, l.if2]);
    assert.ok(data.interfaces[0]!.counters['punted']! > 0, 'the pings to the router were punted');
  });

  await t.test('show config', () => {
    const text = ok(l.ctl('show', 'config'), 'show config');
    const data = l.json(configSchema, 'show', 'config');
    assert.deepEqual(JSON.parse(text), data, 'the human form is the same config');
    assert.deepEqual(data.interfaces.map((i) => [i.name, i.mtu, i.addresses]), [[l.if1, 1500, ['2001:db8:1::1/64']], [l.if2, 1400, ['2001:db8:2::1/64']]]);
    assert.deepEqual(data.routes.map((r) => r.prefix), ['2001:db8:77::/48', '2001:db8:dead::/48']);
    assert.equal(data.control.socket, l.router.socket);
  });

  await t.test('reload of an unchanged file reports no changes', () => {
    assert.equal(ok(l.ctl('reload'), 'reload').trim(), 'reload: no changes');
    assert.deepEqual(l.json(reloadSchema, 'reload'), { ok: true, changes: [] });
  });

  await t.test('config diff lists the change in a modified copy', () => {
    const copy = join(l.router.dir, 'modified.yaml');
    const original = readFileSync(l.configFile, 'utf8');
    const modified = original.replace('mtu: 1400', 'mtu: 1380').replace('  - prefix: 2001:db8:dead::/48\n    reject: true\n', '');
    assert.notEqual(modified, original);
    writeFileSync(copy, modified);
    const text = ok(l.ctl('config', 'diff', copy), 'config diff');
    assert.deepEqual(text.trimEnd().split('\n').sort(), [
      `- routes[2001:db8:dead::/48]: ${JSON.stringify({ prefix: '2001:db8:dead::/48', nexthops: [], reject: true, blackhole: false, preference: 10 })}`,
      `~ interfaces[${l.if2}].mtu: 1400 → 1380`,
    ].sort());
    const data = l.json(diffSchema, 'config', 'diff', copy);
    assert.deepEqual(data.find((c) => c.kind === 'changed'), { path: `interfaces[${l.if2}].mtu`, kind: 'changed', before: 1400, after: 1380 });
    assert.equal(data.length, 2);
    assert.equal(ok(l.ctl('config', 'diff', l.configFile), 'config diff of the running file').trim(), 'no changes');
  });

  await t.test('an unknown command exits 1 and says what exists', () => {
    const typo = l.ctl('show', 'rutes');
    assert.equal(typo.code, 1);
    assert.equal(typo.stdout, '');
    assert.match(typo.stderr, /^turtle6ctl: unknown command "show rutes"; available: .*show interfaces.*show routes/);
    // Words turtle6ctl does not define go to the appliance, which knows its modules' commands.
    const verb = l.ctl('frobnicate');
    assert.equal(verb.code, 1);
    assert.match(verb.stderr, /^turtle6ctl: unknown command "frobnicate"; available: .*reload.*show routes/);
  });

  await t.test('TURTLE6_SOCKET names the socket; --socket wins over it', () => {
    const viaEnv = l.r.run('env', [`TURTLE6_SOCKET=${l.router.socket}`, process.execPath, TURTLE6CTL, 'show', 'lanes']);
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.match(viaEnv.stdout, /^Lane\s+State/);
    const elsewhere = 'TURTLE6_SOCKET=/nonexistent/t6.sock';
    const wrong = l.r.run('env', [elsewhere, process.execPath, TURTLE6CTL, 'show', 'lanes']);
    assert.equal(wrong.code, 2, wrong.stdout + wrong.stderr);
    assert.match(wrong.stderr, /\/nonexistent\/t6\.sock/);
    const both = l.r.run('env', [elsewhere, process.execPath, TURTLE6CTL, '--socket', l.router.socket, 'show', 'lanes']);
    assert.equal(both.code, 0, both.stderr);
  });

  await t.test('debug crash-lane N takes N as a word and refuses a lane that does not exist', () => {
    const r = l.ctl('debug', 'crash-lane', '5');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^turtle6ctl: usage: debug crash-lane N \(a lane, 0–0\)/);
    assert.equal(l.json(lanesSchema, 'show', 'lanes')[0]!.starts, 1, 'no lane was told to crash');
  });

  await t.test('a non-root user is denied', () => {
    // Let anyone reach the socket's directory, so that only the socket's own mode keeps them out.
    chmodSync(l.router.dir, 0o755);
    const r = l.r.run(process.execPath, [TURTLE6CTL_AS_NOBODY, '--socket', l.router.socket, 'show', 'routes']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^turtle6ctl: permission denied on .*turtle6\.sock: turtle6ctl must run as the appliance's user/);
    assert.equal(l.ctl('show', 'routes').code, 0, 'root still gets in');
  });
});
