/**
 * The dns module's upstream list and commands with a fake context (no sockets: the
 * forwarder stays off here; test/interop/dns-forwarder.test.ts runs it on port 53):
 * `dns.servers` first, then the DHCPv6-learned servers without repeats or link-local ones,
 * re-read when they change; the show and clear commands answer with the forwarder off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/lib/clock.js';
import { parseIpv6 } from '../../../src/lib/addr.js';
import type { DnsInfo, StackApi } from '../../../src/stack/stack-api.js';
import type { ModuleContext, ModuleLogger, ModuleStatus } from '../../../src/protocols/module.js';
import { DnsModule, DNS_DEFAULTS } from '../../../src/protocols/dns/dns.js';

function harness(learned: DnsInfo[]) {
  const commands = new Map<string, (rest: string[]) => ModuleStatus | Promise<ModuleStatus>>();
  const noop: ModuleLogger = { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  const api = { clock: new ManualClock(0), interfaces: () => [], dnsServers: () => learned } as unknown as StackApi;
  const ctx: ModuleContext = {
    api,
    log: noop,
    limited: () => noop,
    metrics: { gauge: () => undefined, counter: () => undefined },
    commands: { register: (path, handler) => void commands.set(path.join(' '), (rest) => handler({ command: path }, rest)) },
    stateDir: '/nonexistent',
  };
  const run = async (command: string) => (await commands.get(command)!([])).data;
  return { ctx, run };
}

test('upstreams: dns.servers first, then DHCPv6-learned servers without repeats or link-local ones, re-read as they change', async () => {
  const learned: DnsInfo[] = [{ source: 'dhcpv6-client', servers: [parseIpv6('2001:db8:53::9')!, parseIpv6('fe80::53')!, parseIpv6('2001:db8:53::1')!], domains: [] }];
  const { ctx, run } = harness(learned);
  const m = new DnsModule();
  await m.start(ctx, { ...DNS_DEFAULTS, servers: ['2001:db8:53::1'] });
  const rows = (await run('show dns upstreams')) as Array<{ server: string; source: string }>;
  assert.deepEqual(rows.map((r) => [r.server, r.source]), [['2001:db8:53::1', 'config'], ['2001:db8:53::9', 'dhcpv6']]);
  learned[0] = { ...learned[0]!, servers: [parseIpv6('2001:db8:53::a')!] };
  const after = (await run('show dns upstreams')) as Array<{ server: string }>;
  assert.deepEqual(after.map((r) => r.server), ['2001:db8:53::1', '2001:db8:53::a']);
  m.stop();
});

test('show dns stats|cache and clear dns cache answer with the forwarder off', async () => {
  const { ctx, run } = harness([]);
  const m = new DnsModule();
  await m.start(ctx, DNS_DEFAULTS);
  const stats = (await run('show dns stats')) as { forwarder: { enabled: boolean }; cache: { entries: number } };
  assert.deepEqual([stats.forwarder.enabled, stats.cache.entries], [false, 0]);
  assert.deepEqual(await run('show dns cache'), { size: 0, capacity: 10000, entries: [] });
  assert.deepEqual(await run('clear dns cache'), { cleared: 0 });
  m.stop();
});
