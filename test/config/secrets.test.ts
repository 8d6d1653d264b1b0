/**
 * Secret fields of the config (docs/ipsec.md, "Secrets"): ESP keys parse to Secrets, inline
 * or from encKeyFile/authKeyFile; they print as <redacted> everywhere text is made of them;
 * config errors never echo them; they survive the loader thread's structured clone; a diff
 * says a key changed without its bytes; keys a reload drops are zeroed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { REDACTED, Secret } from '../../src/lib/secret.js';
import { formatConfigError, loadConfigText } from '../../src/config/load.js';
import { loadConfigFileOffThread } from '../../src/config/load-off-thread.js';
import { diffConfig, renderConfigDiff } from '../../src/config/diff.js';
import { isSecretPath } from '../../src/config/fields.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { wipeReplacedSecrets, wipeSecrets } from '../../src/config/secrets.js';
import { createRootLogger } from '../../src/observability/log.js';
import { keyFingerprint } from '../../src/protocols/ipsec/sequence-store.js';

const dir = mkdtempSync(join(tmpdir(), 't6-secrets-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const GCM_KEY = 'c0ffee00112233445566778899aabbccddeeff01';
const AUTH_KEY = '5a'.repeat(8) + '1f2e3d4c5b6a7988'.repeat(3);
const CBC_KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';

function keyFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

function config(sas: string): string {
  return `
interfaces:
  - name: lan0
    addresses: [2001:db8:1::1/64]
ipsec:
  sas:
${sas}
`;
}

const gcmSa = (key: string) => `    - { spi: 0x1000, direction: out, src: 2001:db8:1::1, dst: 2001:db8:1::2, encryption: aes-gcm-128, ${key} }`;
const cbcSa = (keys: string) => `    - { spi: 0x1001, direction: out, src: 2001:db8:1::1, dst: 2001:db8:1::3, encryption: aes-cbc-128, integrity: hmac-sha256-128, ${keys} }`;

function load(text: string): Config {
  const r = loadConfigText(text, 'c.yaml');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatConfigError).join('\n'));
  return r.config;
}

function errors(text: string): string {
  const r = loadConfigText(text, 'c.yaml');
  assert.equal(r.ok, false, 'the config is refused');
  return r.ok ? '' : r.errors.map(formatConfigError).join('\n');
}

const hex = (s: Secret) => Buffer.from(s.bytes).toString('hex');

test('a Secret prints as <redacted> through JSON, String, templates, util.inspect and pino', () => {
  const s = new Secret(Buffer.from(GCM_KEY, 'hex'));
  const holder = { sa: { spi: 4096, encKey: s } };
  assert.equal(JSON.stringify(holder), `{"sa":{"spi":4096,"encKey":"${REDACTED}"}}`);
  assert.equal(String(s), REDACTED);
  assert.equal(`${s}`, REDACTED);
  assert.ok(!inspect(holder, { depth: 5 }).includes('c0'), inspect(holder));
  const lines: string[] = [];
  const log = createRootLogger({ level: 'info', destination: new Writable({ write: (c: Buffer, _e, done) => done(void lines.push(c.toString())) }) });
  log.info({ config: holder }, 'a Secret logged');
  // The backstop: key fields logged as raw text by mistake are censored by pino's redact.
  log.info({ encKey: GCM_KEY, sa: { authKey: AUTH_KEY }, key: { secret: CBC_KEY } }, 'raw keys logged');
  const text = lines.join('');
  assert.ok(text.includes(REDACTED));
  for (const k of [GCM_KEY, AUTH_KEY, CBC_KEY]) assert.ok(!text.includes(k), text);
});

test('inline keys and key files both load as Secret bytes; upper case, 0x and a newline are fine in a file', () => {
  const encFile = keyFile('cbc.key', `0x${CBC_KEY.toUpperCase()}\n`);
  const cfg = load(config(`${gcmSa(`encKey: "0x${GCM_KEY}"`)}\n${cbcSa(`encKeyFile: ${encFile}, authKey: "${AUTH_KEY}"`)}`));
  const [gcm, cbc] = cfg.ipsec!.sas;
  assert.ok(gcm!.encKey instanceof Secret && cbc!.encKey instanceof Secret);
  assert.equal(hex(gcm!.encKey), GCM_KEY);
  assert.equal(gcm!.authKey.length, 0, 'no integrity, no key');
  assert.equal(hex(cbc!.encKey), CBC_KEY);
  assert.equal(cbc!.encKeyFile, encFile);
  assert.equal(hex(cbc!.authKey), AUTH_KEY);
});

test('key file errors name the file and the field; invalid inline keys are not echoed', () => {
  assert.equal(
    errors(config(gcmSa(`encKeyFile: ${join(dir, 'missing.key')}`))),
    `c.yaml:7:115: ipsec.sas[0].encKeyFile: expected a readable file holding one key in hex (cannot read ${join(dir, 'missing.key')} (ENOENT)), found "${join(dir, 'missing.key')}"`,
  );
  const notHex = keyFile('not-hex.key', 'this is not a key\n');
  assert.match(errors(config(gcmSa(`encKeyFile: ${notHex}`))), new RegExp(`encKeyFile: expected a readable file holding one key in hex \\(${notHex.replace(/\./g, '\\.')} does not hold one key in hex like 0x00112233…\\)`));
  const short = keyFile('short.key', `${GCM_KEY.slice(0, -2)}\n`);
  assert.match(errors(config(gcmSa(`encKeyFile: ${short}`))), /ipsec\.sas\[0\]\.encKeyFile: expected a key of 20 bytes: the AES key and the 4-byte salt \(RFC 4106 §8\.1\) for aes-gcm-128, found ".*short\.key"/);
  assert.match(errors(config(gcmSa(`encKey: "0x${GCM_KEY}", encKeyFile: ${short}`))), /ipsec\.sas\[0\]\.encKeyFile: expected encKey or encKeyFile, not both/);
  for (const bad of [`"0x${GCM_KEY.slice(0, -2)}"`, `"0x${GCM_KEY.slice(0, -1)}g"`, `0x${GCM_KEY}`, `[0x${GCM_KEY}]`]) {
    const e = errors(config(gcmSa(`encKey: ${bad}`)));
    assert.match(e, /ipsec\.sas\[0\]\.encKey: expected .*, found a value not shown \(a secret\)$/);
    assert.ok(!e.includes(GCM_KEY.slice(0, 16)), e);
  }
});

test('isSecretPath finds the fields marked secret() through lists, optionals and transforms', () => {
  assert.equal(isSecretPath(configSchema, ['ipsec', 'sas', 0, 'encKey']), true);
  assert.equal(isSecretPath(configSchema, ['ipsec', 'sas', 3, 'authKey']), true);
  assert.equal(isSecretPath(configSchema, ['ipsec', 'sas', 0, 'encKeyFile']), false);
  assert.equal(isSecretPath(configSchema, ['ipsec', 'sas', 0, 'spi']), false);
  assert.equal(isSecretPath(configSchema, ['dhcpv6', 'keys', 0, 'secretFile']), false);
  assert.equal(isSecretPath(configSchema, ['ipsec', 'sas']), false);
});

test('Secrets survive the loader thread and still print as <redacted>', async () => {
  const file = keyFile('turtle6.yaml', config(gcmSa(`encKey: "${GCM_KEY}"`)));
  const r = await loadConfigFileOffThread(file);
  assert.ok(r.ok);
  const key = r.config.ipsec!.sas[0]!.encKey;
  assert.ok(key instanceof Secret, 'a Secret again after the structured clone');
  assert.equal(hex(key), GCM_KEY);
  assert.ok(JSON.stringify(r.config).includes(`"encKey":"${REDACTED}"`));
  assert.ok(!JSON.stringify(r.config).includes(GCM_KEY.slice(0, 16)));
});

test('diff: a changed key reads <redacted> → <redacted>; equal keys in two loads are no change', () => {
  const encFile = keyFile('diff.key', `${CBC_KEY}\n`);
  const a = load(config(`${gcmSa(`encKey: "${GCM_KEY}"`)}\n${cbcSa(`encKeyFile: ${encFile}, authKey: "${AUTH_KEY}"`)}`));
  const same = load(config(`${gcmSa(`encKey: "0x${GCM_KEY.toUpperCase()}"`)}\n${cbcSa(`encKeyFile: ${encFile}, authKey: "${AUTH_KEY}"`)}`));
  assert.deepEqual(diffConfig(a, same), []);
  writeFileSync(encFile, `${'ab'.repeat(16)}\n`);
  const rekeyed = load(config(`${gcmSa(`encKey: "${GCM_KEY}"`)}\n${cbcSa(`encKeyFile: ${encFile}, authKey: "${AUTH_KEY}"`)}`));
  const changes = diffConfig(a, rekeyed);
  assert.equal(renderConfigDiff(changes), `~ ipsec.sas[1].encKey: "${REDACTED}" → "${REDACTED}"`);
  assert.equal(JSON.stringify(changes), `[{"path":"ipsec.sas[1].encKey","kind":"changed","before":"${REDACTED}","after":"${REDACTED}"}]`);
});

test('wipeReplacedSecrets zeroes the keys a reload dropped and keeps the ones still configured', () => {
  const old = load(config(`${gcmSa(`encKey: "${GCM_KEY}"`)}\n${cbcSa(`encKey: "${CBC_KEY}", authKey: "${AUTH_KEY}"`)}`));
  const next = load(config(`${gcmSa(`encKey: "${GCM_KEY}"`)}\n${cbcSa(`encKey: "${'ab'.repeat(16)}", authKey: "${AUTH_KEY}"`)}`));
  wipeReplacedSecrets(old, next);
  const [gcm, cbc] = old.ipsec!.sas;
  assert.equal(hex(gcm!.encKey), GCM_KEY, 'unchanged: an installed SA still uses it');
  assert.equal(hex(cbc!.authKey), AUTH_KEY, 'unchanged');
  assert.ok(cbc!.encKey.bytes.every((b) => b === 0), 'replaced: zeroed');
  wipeSecrets(next);
  assert.ok(next.ipsec!.sas.every((sa) => sa.encKey.bytes.every((b) => b === 0) && sa.authKey.bytes.every((b) => b === 0)));
});

test('the sequence file fingerprint of an SA is what it was when keys were hex strings', () => {
  const sa = load(config(cbcSa(`encKey: "${CBC_KEY}", authKey: "${AUTH_KEY}"`))).ipsec!.sas[0]!;
  const before = createHash('sha256').update(JSON.stringify([sa.spi, sa.dst, sa.encryption, CBC_KEY, sa.integrity, AUTH_KEY])).digest('hex');
  assert.equal(keyFingerprint(sa), before);
});
