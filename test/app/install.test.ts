/**
 * turtle6 as users install it (README, "Installing"): `npm pack`, then `npm install -g` of the
 * tarball into a private prefix. The tarball holds the built JavaScript, the C helpers'
 * sources and their build script, and no tests; the install builds the helpers (they are
 * optional); `turtle6` and `turtle6ctl` land in PREFIX/bin and work from PATH, the installed
 * appliance runs and the installed client talks to it, and the installed lab prints the short
 * names since they are on PATH.
 *
 * `npm pack --ignore-scripts`: the prepack build already ran as `npm test`'s pretest, and
 * rebuilding dist/ under the other test files running now would pull it from under them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { run, shortName, TestBed } from '../helpers/netns.js';
import { onePortConfig, startRouter } from '../helpers/router.js';

const root = resolve(import.meta.dirname, '../../..');

test('npm pack, npm install -g: turtle6 and turtle6ctl on PATH, working', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 't6inst-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const npm = (args: string[], cwd = root) => run('sh', ['-c', `cd "$1" && shift && exec npm "$@"`, 'npm', cwd, ...args]);

  const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work]);
  assert.equal(packed.code, 0, packed.stderr);
  const [pack] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = pack!.files.map((f) => f.path);
  for (const must of ['dist/src/app/turtle6.js', 'dist/src/app/turtle6ctl.js', 'dist/native-bindings/libc.js', 'native-bindings/t6io.c', 'native-bindings/t6crypto.c', 'scripts/build-native.mjs', 'examples/two-hosts.yaml', 'README.md']) {
    assert.ok(files.includes(must), `the tarball has ${must}`);
  }
  for (const f of files) {
    assert.doesNotMatch(f, /^(dist\/test|dist\/bench|src|test|native-bindings\/build)\//, `the tarball leaves out ${f}`);
    // Source maps point at TypeScript the tarball does not hold.
    assert.doesNotMatch(f, /\.map$/, `the tarball leaves out ${f}`);
  }

  const prefix = join(work, 'prefix');
  const installed = npm(['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(work, pack!.filename)], work);
  assert.equal(installed.code, 0, `npm install -g: ${installed.stderr}`);
  const bin = join(prefix, 'bin');
  const pkg = join(prefix, 'lib/node_modules/turtle6');
  // The install script built the optional helpers where a compiler is (install-deps.sh installs gcc here).
  if (run('sh', ['-c', 'command -v gcc']).code === 0) {
    assert.ok(existsSync(join(pkg, 'native-bindings/build/libt6crypto.so')), 'the install built libt6crypto.so');
  }

  // From PATH, as a user types them (the shebang finds this node on PATH).
  const path = `${bin}:${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`;
  const sh = (command: string) => run('env', [`PATH=${path}`, 'sh', '-c', command]);
  for (const name of ['turtle6', 'turtle6ctl']) {
    const which = sh(`command -v ${name}`);
    assert.equal(which.stdout.trim(), join(bin, name), `${name} is on PATH`);
    const help = sh(`${name} --help`);
    assert.equal(help.code, 0, `${name} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: ${name} `));
  }
  const check = sh(`turtle6 check --config ${join(pkg, 'examples/two-hosts.yaml')}`);
  assert.equal(check.code, 0, check.stderr);

  // The installed lab names the installed binaries by their short names.
  const lab = (p: string) =>
    run('env', [`PATH=${p}`, process.execPath, '--input-type=module', '-e', `const { binaryAsTyped } = await import('${join(pkg, 'dist/src/app/lab.js')}'); process.stdout.write(binaryAsTyped('turtle6ctl', '${join(pkg, 'dist/src/app/turtle6ctl.js')}'))`]);
  assert.equal(lab(path).stdout, 'turtle6ctl');
  assert.equal(lab('/usr/bin:/bin').stdout, `node ${join(pkg, 'dist/src/app/turtle6ctl.js')}`);

  // The installed appliance runs, and the installed client talks to it.
  const bed = new TestBed('inst');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const if1 = shortName('t6i');
  const router = await startRouter(bed, r, onePortConfig(if1), 20_000, { command: [join(bin, 'turtle6')] });
  const show = sh(`turtle6ctl --socket ${router.socket} show interfaces`);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(`^${if1} +tap +up `, 'm'));
});
