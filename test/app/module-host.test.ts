/**
 * The module host's reload participant with the appliance's real modules over a stack on a
 * recording datapath: the reload report says "restart" for a module that restarts and
 * "reconfigure in place" for one that does not, and each is what then happens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import { Stack } from '../../src/stack/stack.js';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { renderReloadReport, runReload } from '../../src/config/reload.js';
import { createRootLogger, RateLimitedLog } from '../../src/observability/log.js';
import { Metrics } from '../../src/observability/metrics.js';
import { ControlServer } from '../../src/app/control.js';
import { ModuleHost } from '../../src/app/module-host.js';
import { MODULES } from '../../src/app/modules.js';
import { stackInterface } from '../../src/app/reload-participants.js';
import { FakeDatapath } from '../stack/fake-datapath.js';

function load(text: string): Config {
  const r = loadConfigText(text, 'c.yaml');
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  return r.config;
}

const yaml = (requestPrefix: boolean, ripngPreference: number) => `
interfaces:
  - name: wan0
    mac: 02:00:00:00:00:01
  - name: lan0
    mac: 02:00:00:00:00:02
    addresses: [2001:db8:1::1/64]
ripng:
  interfaces:
    - name: lan0
  preference: ${ripngPreference}
dhcpv6:
  client:
    interface: wan0
    requestPrefix: ${requestPrefix}
`;

/** A ModuleHost running the appliance's modules on `config`, over a stack with a recording datapath. */
async function runningHost(t: { after: (fn: () => unknown) => void }, config: Config): Promise<ModuleHost> {
  const stateDir = mkdtempSync(join(tmpdir(), 't6-modules-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const clock = new ManualClock(0);
  const quiet = createRootLogger({ level: 'error', destination: { write() {} } });
  const stack = new Stack({ clock, rng: new SeededRng(7), datapath: new FakeDatapath(), log: { info() {}, warn() {}, debug() {} } });
  config.interfaces.forEach((iface, port) => stack.addInterface(stackInterface(iface, port)));
  const control = new ControlServer(join(stateDir, 'unused.sock'));
  const host = new ModuleHost(MODULES, stack, quiet, new RateLimitedLog(quiet, 10, clock), new Metrics({ defaultMetrics: false }), control, stateDir);
  await host.startAll(config);
  t.after(() => host.stopAll());
  return host;
}

test('reload report: dhcpv6 says restart and restarts, ripng says in place and keeps running', async (t) => {
  const current = load(yaml(true, 120));
  const host = await runningHost(t, current);
  const dhcpv6 = host.module('dhcpv6');
  const ripng = host.module('ripng');
  assert.ok(dhcpv6 && ripng);

  // CONFIG.md: any dhcpv6 change restarts the module (its client sends a Release, then a Solicit).
  const report = await runReload([host.participant()], current, load(yaml(false, 90)));
  assert.deepEqual(report, {
    ok: true,
    changes: [
      {
        participant: 'modules',
        mode: 'restart-module',
        describe: ['dhcpv6: restart (its new config does not apply in place)', 'ripng: reconfigure in place'],
      },
    ],
  });
  assert.match(renderReloadReport(report), /^ {2}modules \(restart-module\): dhcpv6: restart/m);
  assert.notEqual(host.module('dhcpv6'), dhcpv6, 'dhcpv6 was stopped and started again');
  assert.equal(host.module('ripng'), ripng, 'ripng kept running');
});

test('reload report: an in-place change alone is reported in place', async (t) => {
  const current = load(yaml(true, 120));
  const host = await runningHost(t, current);
  const ripng = host.module('ripng');
  const report = await runReload([host.participant()], current, load(yaml(true, 90)));
  assert.deepEqual(report, { ok: true, changes: [{ participant: 'modules', mode: 'in-place', describe: ['ripng: reconfigure in place'] }] });
  assert.equal(host.module('ripng'), ripng);
});

test('a module on a port the reload reopens restarts, though its own config did not change; one on other ports stays', async (t) => {
  const config = load(yaml(true, 120));
  const host = await runningHost(t, config);
  const dhcpv6 = host.module('dhcpv6');
  const ripng = host.module('ripng');
  // lan0 restarted (say, its MAC changed): RIPng runs on every port, the DHCPv6 client only on wan0.
  const report = await runReload([host.participant(() => new Set(['lan0']))], config, load(yaml(true, 120)));
  assert.deepEqual(report, {
    ok: true,
    changes: [{ participant: 'modules', mode: 'restart-module', describe: ['ripng: restart (it runs on lan0, reopened)'] }],
  });
  assert.notEqual(host.module('ripng'), ripng, 'ripng is a new instance');
  assert.equal(host.module('dhcpv6'), dhcpv6, 'dhcpv6 kept running');
});
