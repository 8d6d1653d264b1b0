/**
 * Secrets stay secret (issue 11, item 5): the real appliance in a namespace, configured with
 * known ESP keys (AES-GCM, and AES-CBC with HMAC-SHA-256; inline and in key files) and a
 * DHCPv6 authentication key. Every output an operator or a scraper can get — every `show`
 * command the appliance lists in `help` (so a new one is covered without editing this test),
 * in text and --json, `config diff` after a key changes in its file, `reload` (applied, and
 * refused over a malformed key), a packet trace and its pcap, a /metrics scrape, and the
 * process's own stdout logs — is searched for every key: as hex in either case, with or
 * without colons or 0x, as base64 at every alignment, and as decimal byte lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed, type ExecResult } from '../helpers/netns.js';
import { startRouter, TURTLE6CTL } from '../helpers/router.js';

/** Deterministic key bytes that look random (no runs a pattern search could miss or hit by luck). */
function key(name: string, bytes: number): Buffer {
  return createHash('sha512').update(`turtle6 secrets test ${name}`).digest().subarray(0, bytes);
}

/** Every way a key could leak into text: 8-byte windows as hex (plain, colon-separated), base64 at each alignment, decimal lists. */
function leakPatterns(k: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= k.length; i += 4) {
    const w = Buffer.from(k.subarray(i, i + 8));
    const hex = w.toString('hex');
    out.push(hex, hex.match(/../g)!.join(':'), [...w].join(','), [...w].map((b, j) => `"${i + j}":${b}`).join(','));
  }
  for (let o = 0; o < 3; o++) {
    const whole = Math.floor((k.length - o) / 3) * 3;
    const b64 = Buffer.from(k.subarray(o, o + whole)).toString('base64');
    out.push(b64, b64.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return out;
}

/** Asserts that none of `keys` appears in `text` (hex compared case-insensitively). */
function assertNoKeys(what: string, text: string, keys: ReadonlyMap<string, Uint8Array>): void {
  const lower = text.toLowerCase();
  for (const [name, k] of keys) {
    for (const p of leakPatterns(k)) {
      const hexLike = /^[0-9a-f:]+$/.test(p);
      assert.ok(!(hexLike ? lower.includes(p) : text.includes(p)), `${what} leaks key ${name} (${hexLike ? 'hex' : 'base64 or bytes'})`);
    }
  }
}

function assertNoKeyBytes(what: string, bytes: Buffer, keys: ReadonlyMap<string, Uint8Array>): void {
  for (const [name, k] of keys) assert.equal(bytes.indexOf(Buffer.from(k.subarray(0, 8))), -1, `${what} holds the bytes of key ${name}`);
}

const GCM_OUT = key('gcm-out', 20);
const GCM_IN = key('gcm-in', 20);
const CBC_OUT_ENC = key('cbc-out-enc', 16);
const CBC_OUT_AUTH = key('cbc-out-auth', 32);
const CBC_IN_ENC = key('cbc-in-enc', 32);
const CBC_IN_AUTH = key('cbc-in-auth', 32);
const CBC_OUT_ENC_NEW = key('cbc-out-enc-new', 16);
const GCM_OUT_NEW = key('gcm-out-new', 20);
const BAD_LENGTH = key('bad-length', 19);
const DHCP_SECRET = key('dhcpv6', 16);

const KEYS = new Map<string, Uint8Array>([
  ['GCM_OUT', GCM_OUT], ['GCM_IN', GCM_IN], ['CBC_OUT_ENC', CBC_OUT_ENC], ['CBC_OUT_AUTH', CBC_OUT_AUTH],
  ['CBC_IN_ENC', CBC_IN_ENC], ['CBC_IN_AUTH', CBC_IN_AUTH], ['CBC_OUT_ENC_NEW', CBC_OUT_ENC_NEW],
  ['GCM_OUT_NEW', GCM_OUT_NEW], ['BAD_LENGTH', BAD_LENGTH], ['DHCP_SECRET', DHCP_SECRET],
]);

const hex0x = (k: Uint8Array) => `0x${Buffer.from(k).toString('hex')}`;

test('no key appears in show, config diff, reload, trace, /metrics or the logs', { timeout: 120_000 }, async (t) => {
  requireCommand('curl', 'curl');
  const bed = new TestBed('secrets');
  t.after(() => bed.cleanup());
  const keyDir = mkdtempSync(join(tmpdir(), 't6-keys-'));
  bed.onCleanup(() => rmSync(keyDir, { recursive: true, force: true }));
  const keyFile = (name: string, text: string) => {
    const file = join(keyDir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  // Key files as an operator writes them: upper-case hex with 0x, or without, and a newline.
  const gcmInFile = keyFile('gcm-in.key', `0x${Buffer.from(GCM_IN).toString('hex').toUpperCase()}\n`);
  const cbcOutEncFile = keyFile('cbc-out-enc.key', `${Buffer.from(CBC_OUT_ENC).toString('hex')}\n`);
  const cbcInAuthFile = keyFile('cbc-in-auth.key', `${hex0x(CBC_IN_AUTH)}\n`);
  const dhcpFile = keyFile('dhcpv6.secret', `${Buffer.from(DHCP_SECRET).toString('base64')}\n`);

  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  const if1 = shortName('t6s');
  const if2 = shortName('t6u');
  const config = `
interfaces:
  - name: ${if1}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
  - name: ${if2}
    addresses: [2001:db8:2::1/64]
    netns: ${h2.name}
routes:
  - prefix: 2001:db8:9::/64
    via: 2001:db8:2::20
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: "[::1]:9469"
ipsec:
  sas:
    - { spi: 0x1000, direction: out, mode: tunnel, src: 2001:db8:2::1, dst: 2001:db8:2::20, encryption: aes-gcm-128, encKey: "${hex0x(GCM_OUT)}" }
    - { spi: 0x2000, direction: in, mode: tunnel, src: 2001:db8:2::20, dst: 2001:db8:2::1, encryption: aes-gcm-128, encKeyFile: ${gcmInFile} }
    - { spi: 0x1001, direction: out, src: 2001:db8:2::1, dst: 2001:db8:2::21, encryption: aes-cbc-128, encKeyFile: ${cbcOutEncFile}, integrity: hmac-sha256-128, authKey: "${hex0x(CBC_OUT_AUTH)}" }
    - { spi: 0x2001, direction: in, src: 2001:db8:2::21, dst: 2001:db8:2::1, encryption: aes-cbc-256, encKey: "${hex0x(CBC_IN_ENC)}", integrity: hmac-sha256-128, authKeyFile: ${cbcInAuthFile} }
  policies:
    - { direction: out, src: 2001:db8:1::/64, dst: 2001:db8:9::/64, sa: 0x1000 }
    - { direction: out, dst: 2001:db8:2::21/128, proto: udp, sa: 0x1001 }
dhcpv6:
  keys:
    - { name: k1, realm: turtle6.test, keyId: 1, secretFile: ${dhcpFile} }
  server:
    interfaces:
      - name: ${if1}
        addressPool: { start: "2001:db8:1::100", end: "2001:db8:1::1ff" }
    reservations:
      - { duid: "00:03:00:01:02:00:00:00:00:99", key: k1 }
`;
  const router = await startRouter(bed, r, config);
  const configFile = join(router.dir, 'turtle6.yaml');
  const ctl = (...args: string[]): ExecResult => r.run(process.execPath, [TURTLE6CTL, '--socket', router.socket, ...args]);
  const ok = (what: string, result: ExecResult): string => {
    assert.equal(result.code, 0, `${what} exited ${result.code}: ${result.stderr}`);
    assertNoKeys(what, result.stdout + result.stderr, KEYS);
    return result.stdout;
  };

  await t.test('every show command, as text and as JSON', () => {
    const commands = (JSON.parse(ok('help', ctl('--json', 'help'))) as Array<{ command: string }>).map((c) => c.command.split(' ')).filter((c) => c[0] === 'show');
    // The core's, the config's and the two configured modules' show commands are all there.
    for (const expected of ['show config', 'show interfaces', 'show ipsec sa', 'show ipsec policy', 'show dhcp status']) {
      assert.ok(commands.some((c) => c.join(' ') === expected), `${expected} is listed in help`);
    }
    for (const command of commands) {
      ok(command.join(' '), ctl(...command));
      ok(`${command.join(' ')} --json`, ctl('--json', ...command));
    }
    // The keys are in the config, redacted, and the key files are named.
    const shown = JSON.parse(ok('show config', ctl('--json', 'show', 'config'))) as { ipsec: { sas: Array<Record<string, unknown>> } };
    assert.deepEqual(shown.ipsec.sas.map((sa) => [sa['encKey'], sa['authKey'], sa['encKeyFile'] ?? null, sa['authKeyFile'] ?? null]), [
      ['<redacted>', '<redacted>', null, null],
      ['<redacted>', '<redacted>', gcmInFile, null],
      ['<redacted>', '<redacted>', cbcOutEncFile, null],
      ['<redacted>', '<redacted>', null, cbcInAuthFile],
    ]);
    const sas = ok('show ipsec sa', ctl('show', 'ipsec', 'sa'));
    assert.match(sas, /spi=4096\(0x00001000\)/);
    assert.match(sas, /E: aes-cbc-128 {2}A: hmac-sha256-128/);
  });

  await t.test('config diff names a key changed in its file and one changed inline, without their bytes', () => {
    writeFileSync(cbcOutEncFile, `${hex0x(CBC_OUT_ENC_NEW)}\n`);
    const copy = join(router.dir, 'rekeyed.yaml');
    writeFileSync(copy, readFileSync(configFile, 'utf8').replace(hex0x(GCM_OUT), hex0x(GCM_OUT_NEW)));
    const text = ok('config diff', ctl('config', 'diff', copy));
    assert.deepEqual(text.trimEnd().split('\n').sort(), [
      '~ ipsec.sas[0].encKey: "<redacted>" → "<redacted>"',
      '~ ipsec.sas[2].encKey: "<redacted>" → "<redacted>"',
    ]);
    const data = JSON.parse(ok('config diff --json', ctl('--json', 'config', 'diff', copy))) as unknown[];
    assert.deepEqual(data, [
      { path: 'ipsec.sas[0].encKey', kind: 'changed', before: '<redacted>', after: '<redacted>' },
      { path: 'ipsec.sas[2].encKey', kind: 'changed', before: '<redacted>', after: '<redacted>' },
    ]);
  });

  await t.test('reload applies the new key file; a malformed key file or inline key is refused naming the file, not the key', () => {
    const applied = ok('reload', ctl('reload'));
    assert.match(applied, /ipsec: reconfigure/);
    assert.equal(ok('config diff after reload', ctl('config', 'diff', configFile)).trim(), 'no changes');

    writeFileSync(gcmInFile, `0x${Buffer.from(GCM_IN).toString('hex').slice(0, -2)}zz\n`);
    const badFile = ok('reload refused over a key file', ctl('reload'));
    assert.match(badFile, /^reload failed in prepare by config: /);
    assert.ok(badFile.includes(`ipsec.sas[1].encKeyFile: expected a readable file holding one key in hex (${gcmInFile} does not hold one key in hex`), badFile);
    writeFileSync(gcmInFile, `${hex0x(GCM_IN)}\n`);

    const original = readFileSync(configFile, 'utf8');
    writeFileSync(configFile, original.replace(hex0x(CBC_IN_ENC), hex0x(BAD_LENGTH)));
    const badInline = ok('reload refused over an inline key', ctl('reload'));
    assert.match(badInline, /ipsec\.sas\[3\]\.encKey: expected a key of 32 bytes for aes-cbc-256, found a value not shown \(a secret\)/);
    writeFileSync(configFile, original);
    assert.equal(ok('reload of the restored file', ctl('reload')).trim(), 'reload: no changes');
  });

  await t.test('a packet trace of the traffic an SA protects, and its pcap', async () => {
    h1.ip('addr', 'add', '2001:db8:1::10/64', 'dev', if1, 'nodad');
    h1.ip('-6', 'route', 'replace', 'default', 'via', '2001:db8:1::1');
    h2.ip('addr', 'add', '2001:db8:2::20/64', 'dev', if2, 'nodad');
    const pcap = join(router.dir, 'trace.pcap');
    const trace = bed.spawnIn(r, process.execPath, [TURTLE6CTL, '--socket', router.socket, 'trace', '4', '--dst', '2001:db8:9::/64', '--timeout', '20', '--pcap', pcap]);
    let out = '';
    trace.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    trace.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    // Pings into the tunnel policy until the trace has its packets: they leave as ESP.
    await pollUntil('the trace to capture 4 packets', () => {
      h1.run('ping', ['-6', '-n', '-c', '1', '-W', '1', '2001:db8:9::5']);
      return trace.exitCode !== null;
    }, 30_000, 10);
    assert.equal(trace.exitCode, 0, out);
    assertNoKeys('trace', out, KEYS);
    // The pings the tunnel policy protects (the SA's packet counter shows they left as ESP, below).
    assert.equal(out.split('\n').filter((line) => /forwarded .*2001:db8:1::10 > 2001:db8:9::5/.test(line)).length, 4, out);
    assertNoKeyBytes('the trace pcap', readFileSync(pcap), KEYS);
  });

  await t.test('a /metrics scrape', () => {
    const scrape = r.run('curl', ['-sf', 'http://[::1]:9469/metrics']);
    const text = ok('/metrics', scrape);
    assert.match(text, /turtle6_ipsec_sa_packets_total\{spi="0x00001000",direction="out"\} [1-9]/);
  });

  await t.test('the logs, through a clean stop', async () => {
    await router.stop();
    const logs = router.output();
    assert.match(logs, /reload refused/);
    assert.match(logs, /turtle6 stopped/);
    assertNoKeys('the appliance logs', logs, KEYS);
  });
});
