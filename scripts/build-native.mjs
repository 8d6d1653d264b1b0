#!/usr/bin/env node
// Builds the optional C helpers: native-bindings/build/libt6io.so (I/O, see docs/io.md) and
// libt6crypto.so (ESP crypto, see docs/ipsec.md).
// `npm run build` runs this after tsc. The helper is an accelerator, not a requirement:
// when gcc or liburing is missing this prints one line and exits 0, and turtle6 uses the
// pure-koffi syscall engine instead.
// `npm install` of the package (package.json "install") runs it with --optional: there a
// compiler that refuses the code (a newer gcc's new warning under -Werror) leaves the
// helper out with a warning instead of failing the install. In the checkout (`npm run build`)
// such a failure is a bug in the C code and fails loudly. The test for the packed install
// is test/app/install.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const optional = process.argv.includes('--optional');

/** gcc refused a helper: fatal in the checkout, a warning when installing (--optional). */
function compileFailed(args) {
  if (optional) {
    console.warn(`build-native: gcc ${args.join(' ')} failed; turtle6 runs without this helper`);
    return;
  }
  console.error(`build-native: gcc ${args.join(' ')} failed`);
  process.exit(1);
}
const source = join(root, 'native-bindings', 't6io.c');
const output = join(root, 'native-bindings', 'build', 'libt6io.so');

function has(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

if (!has('gcc', ['--version'])) {
  console.log('build-native: gcc not found; skipping libt6io and libt6crypto (the syscall I/O engine and node:crypto will be used)');
  process.exit(0);
}
// liburing-dev provides both the header and the link library; probe with a tiny program.
const probe = spawnSync('gcc', ['-x', 'c', '-', '-luring', '-o', '/dev/null'], {
  input: '#include <liburing.h>\nint main(void) { struct io_uring r; return io_uring_queue_init(1, &r, 0); }\n',
  encoding: 'utf8',
});
if (probe.error || probe.status !== 0) {
  console.log('build-native: liburing (Debian: liburing-dev) not found; skipping libt6io (the syscall I/O engine will be used)');
  buildCrypto();
  process.exit(0);
}

mkdirSync(dirname(output), { recursive: true });
const args = ['-O2', '-g', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', output, source, '-luring'];
const r = spawnSync('gcc', args, { stdio: 'inherit' });
// gcc and liburing are present, so a failure is a bug in t6io.c.
if (r.status !== 0) compileFailed(args);
else console.log(`build-native: built ${output}`);
buildCrypto();

/**
 * libt6crypto.so, the ESP crypto helper (docs/ipsec.md): needs libssl-dev (OpenSSL 3's EVP).
 * Without it the lanes use node:crypto.
 */
function buildCrypto() {
  const cryptoSource = join(root, 'native-bindings', 't6crypto.c');
  const cryptoOutput = join(root, 'native-bindings', 'build', 'libt6crypto.so');
  const sslProbe = spawnSync('gcc', ['-x', 'c', '-', '-lcrypto', '-o', '/dev/null'], {
    input: '#include <openssl/evp.h>\nint main(void) { EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL); EVP_MAC_free(m); return 0; }\n',
    encoding: 'utf8',
  });
  if (sslProbe.error || sslProbe.status !== 0) {
    console.log('build-native: OpenSSL 3 headers (Debian: libssl-dev) not found; skipping libt6crypto (ESP will use node:crypto)');
    return;
  }
  mkdirSync(dirname(cryptoOutput), { recursive: true });
  const cryptoArgs = ['-O2', '-g', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', cryptoOutput, cryptoSource, '-lcrypto'];
  const c = spawnSync('gcc', cryptoArgs, { stdio: 'inherit' });
  if (c.status !== 0) compileFailed(cryptoArgs);
  else console.log(`build-native: built ${cryptoOutput}`);
}
