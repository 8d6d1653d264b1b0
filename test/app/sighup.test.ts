/**
 * SIGHUP on the real process (README: "SIGHUP or turtle6ctl reload reloads"): a changed
 * config file takes effect and the log says so; a file with errors, or a change the running
 * appliance refuses, leaves the running config as it was and the log says why.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, shortName, TestBed } from '../helpers/netns.js';
import { scrapeMetrics, startRouter, TURTLE6CTL, type LogLine, type RunningRouter } from '../helpers/router.js';

/** Sends SIGHUP and waits (bounded) for the next log line with message `msg`, which it returns. */
async function hangUp(router: RunningRouter, msg: string): Promise<LogLine> {
  const before = router.logs().length;
  assert.ok(router.process.kill('SIGHUP'), 'SIGHUP delivered');
  let found: LogLine | undefined;
  await pollUntil(`the log line "${msg}" after SIGHUP`, () => {
    if (router.process.exitCode !== null || router.process.signalCode !== null) throw new Error(`turtle6 exited after SIGHUP:\n${router.output()}`);
    found = router.logs().slice(before).find((l) => l.msg === msg);
    return found !== undefined;
  }, 10_000, 50);
  return found!;
}

test('SIGHUP reloads the config file; a bad file or a refused change leaves the running config unchanged', async (t) => {
  const bed = new TestBed('hup');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const if1 = shortName('t6h');
  const router = await startRouter(
    bed,
    r,
    `
interfaces:
  - name: ${if1}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
routes:
  - prefix: 2001:db8:77::/48
    via: 2001:db8:1::77
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: "[::1]:9469"
`,
  );
  const configFile = join(router.dir, 'turtle6.yaml');
  const ctlJson = (...words: string[]): unknown => {
    const out = r.run(process.execPath, [TURTLE6CTL, '--socket', router.socket, '--json', ...words]);
    assert.equal(out.code, 0, `turtle6ctl ${words.join(' ')}: ${out.stderr}`);
    return JSON.parse(out.stdout) as unknown;
  };
  const routes = () => (ctlJson('show', 'routes') as Array<{ prefix: string; origin: string; best: boolean }>).filter((x) => x.origin === 'static' && x.best).map((x) => x.prefix).sort();
  const configAddresses = () =>
    (ctlJson('show', 'interfaces') as Array<{ name: string; addresses: Array<{ address: string; origin: string }> }>)
      .find((i) => i.name === if1)!
      .addresses.filter((a) => a.origin === 'config')
      .map((a) => a.address);
  assert.deepEqual(routes(), ['2001:db8:77::/48']);
  assert.deepEqual(configAddresses(), ['2001:db8:1::1/64']);
  // The reload series the Turtle6ConfigReloadFailed alert reads (examples/prometheus).
  const reloadMetrics = () => {
    const text = scrapeMetrics(r);
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    return {
      success: value('turtle6_config_reloads_total{result="success"}'),
      failure: value('turtle6_config_reloads_total{result="failure"}'),
      lastOk: value('turtle6_config_last_reload_successful'),
    };
  };
  assert.deepEqual(reloadMetrics(), { success: 0, failure: 0, lastOk: 1 });

  const original = readFileSync(configFile, 'utf8');
  const changed = original
    .replace('addresses: [2001:db8:1::1/64]', 'addresses: [2001:db8:1::1/64, 2001:db8:1::2/64]')
    .replace('routes:\n', 'routes:\n  - prefix: 2001:db8:88::/48\n    via: 2001:db8:1::88\n');
  assert.notEqual(changed, original);
  writeFileSync(configFile, changed);

  await t.test('a changed file takes effect, and the log counts the changes', async () => {
    const line = await hangUp(router, 'config reloaded');
    assert.equal(line['changes'], 2, JSON.stringify(line));
    assert.deepEqual(routes(), ['2001:db8:77::/48', '2001:db8:88::/48']);
    assert.deepEqual(configAddresses(), ['2001:db8:1::1/64', '2001:db8:1::2/64']);
    const ok = r.run(process.execPath, [TURTLE6CTL, '--socket', router.socket, 'config', 'diff', configFile]);
    assert.equal(ok.stdout.trim(), 'no changes', 'the running config is the file');
    assert.deepEqual(reloadMetrics(), { success: 1, failure: 0, lastOk: 1 });
  });

  const running = JSON.stringify(ctlJson('show', 'config'));

  await t.test('a file with errors is refused, naming where; nothing changes', async () => {
    writeFileSync(configFile, changed.replace('    via: 2001:db8:1::88\n', '    via: 2001:db8:1::88\n    preference: lots\n'));
    const line = await hangUp(router, 'reload refused: the config file has errors');
    assert.equal(line['errors'], 1);
    assert.match(String(line['error']), new RegExp(`^${configFile.replace(/[.]/g, '\\.')}:\\d+:\\d+: routes\\[0\\]\\.preference: `), JSON.stringify(line));
    assert.equal(JSON.stringify(ctlJson('show', 'config')), running);
    assert.deepEqual(routes(), ['2001:db8:77::/48', '2001:db8:88::/48']);
    assert.deepEqual(reloadMetrics(), { success: 1, failure: 1, lastOk: 0 });
  });

  await t.test('a change the running appliance cannot make is refused; nothing changes', async () => {
    // The lanes' pool slots were sized at start for MTU 1500: a jumbo MTU needs a restart.
    writeFileSync(configFile, changed.replace(`  - name: ${if1}\n`, `  - name: ${if1}\n    mtu: 9000\n`).replace('2001:db8:1::2/64', '2001:db8:1::3/64'));
    const line = await hangUp(router, 'reload refused');
    assert.equal(line['stage'], 'prepare', JSON.stringify(line));
    assert.match(String(line['error']), /mtu 9000 is larger than the lanes' pool slots hold .*restart turtle6 to apply/, JSON.stringify(line));
    assert.equal(JSON.stringify(ctlJson('show', 'config')), running);
    assert.deepEqual(configAddresses(), ['2001:db8:1::1/64', '2001:db8:1::2/64'], 'the address change in the same file was not applied either');
    assert.deepEqual(reloadMetrics(), { success: 1, failure: 2, lastOk: 0 });
  });

  await t.test('a good reload after refused ones clears turtle6_config_last_reload_successful', async () => {
    writeFileSync(configFile, changed);
    await hangUp(router, 'config reloaded');
    assert.deepEqual(reloadMetrics(), { success: 2, failure: 2, lastOk: 1 });
  });
});
