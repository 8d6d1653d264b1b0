/**
 * BIND 9 (`named -g`) and Unbound (`unbound -d`) as DNS peers in a test's namespace, both
 * serving test/fixtures/dns's zones (turtle6.test and 1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa)
 * from the same config templates capture.sh uses. Each returns once the server answers.
 */
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pollUntil, requireCommand, type Netns, type TestBed } from '../../helpers/netns.js';

const ZONES = fileURLToPath(new URL('../../../../test/fixtures/dns/', import.meta.url));

export interface DnsPeer {
  readonly address: string;
  /** Everything the server printed so far (BIND's includes its query log). */
  log(): string;
}

function render(template: string, dir: string, address: string): string {
  const text = readFileSync(join(ZONES, template), 'utf8');
  const out = join(dir, template.replace(/\.in$/, ''));
  writeFileSync(out, text.replaceAll('@DIR@', dir).replaceAll('@ZONES@', ZONES.replace(/\/$/, '')).replaceAll('@ADDR@', address));
  return out;
}

async function start(bed: TestBed, ns: Netns, address: string, command: string, args: (conf: string) => string[], template: string): Promise<DnsPeer> {
  requireCommand('dig', 'dnsutils');
  const dir = mkdtempSync(join(tmpdir(), `t6-${command}-`));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  ns.ip('addr', 'add', `${address}/128`, 'dev', 'lo', 'nodad');
  const conf = render(template, dir, address);
  let output = '';
  const child = bed.spawnIn(ns, command, args(conf));
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await pollUntil(`${command} to answer on ${address} (output: ${output.slice(-2000)})`, () => {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}: ${output.slice(-2000)}`);
    return ns.run('dig', ['+short', '+tries=1', '+time=1', `@${address}`, 'ns1.turtle6.test', 'AAAA']).stdout.trim() === '2001:db8:53::1';
  }, 15_000, 100);
  return { address, log: () => output };
}

export function startBind(bed: TestBed, ns: Netns, address: string): Promise<DnsPeer> {
  requireCommand('named', 'bind9');
  return start(bed, ns, address, 'named', (conf) => ['-g', '-c', conf], 'named.conf.in');
}

export function startUnbound(bed: TestBed, ns: Netns, address: string): Promise<DnsPeer> {
  requireCommand('unbound', 'unbound');
  return start(bed, ns, address, 'unbound', (conf) => ['-d', '-c', conf], 'unbound.conf.in');
}
