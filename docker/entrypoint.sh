#!/bin/sh
# turtle6 container entrypoint (docs/docker.md): checks what turtle6 needs from the
# container, waits for the interfaces the config attaches to, then execs turtle6, which
# creates one TAP per port and glues each `attach:` TAP to its interface with tc itself.
#
# With arguments, they are handed to turtle6 instead (e.g. `check --config FILE`).
#
# Environment:
#   TURTLE6_CONFIG        the config file            (default /etc/turtle6/turtle6.yaml)
#   TURTLE6_JS            turtle6's CLI              (default /app/dist/src/app/turtle6.js)
#   TURTLE6_WAIT_SECONDS  how long to wait for each attached interface (default 30)
set -eu

TURTLE6_CONFIG="${TURTLE6_CONFIG:-/etc/turtle6/turtle6.yaml}"
TURTLE6_JS="${TURTLE6_JS:-/app/dist/src/app/turtle6.js}"
TURTLE6_WAIT_SECONDS="${TURTLE6_WAIT_SECONDS:-30}"

say() { printf 'turtle6-entrypoint: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -f "$TURTLE6_JS" ] || die "turtle6 is not at $TURTLE6_JS (set TURTLE6_JS)"
if [ "$#" -gt 0 ]; then
  exec node "$TURTLE6_JS" "$@"
fi

[ -r "$TURTLE6_CONFIG" ] || die "no config at $TURTLE6_CONFIG: mount one with -v ./turtle6.yaml:$TURTLE6_CONFIG:ro"
# Errors name the file, line and path; better here than after the preflight.
node "$TURTLE6_JS" check --config "$TURTLE6_CONFIG" >/dev/null || die "$TURTLE6_CONFIG is not a valid turtle6 config (errors above)"

# CAP_NET_ADMIN is capability 12 (linux/capability.h); TAP setup and tc need it.
cap_eff=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)
[ $(( (0x$cap_eff >> 12) & 1 )) -eq 1 ] || die "CAP_NET_ADMIN is missing: run the container with --cap-add NET_ADMIN"

# The TUN/TAP clone device is character device 10:200 (Documentation/networking/tuntap.rst).
# Creating the node is not enough when the device cgroup denies it: --device grants both.
if [ ! -c /dev/net/tun ]; then
  say "/dev/net/tun is missing; creating it"
  { mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200; } 2>/dev/null \
    || die "cannot create /dev/net/tun: run the container with --device /dev/net/tun"
fi

# The interfaces named by `attach:`, read with turtle6's own config loader so that every YAML
# spelling (block or flow style, quoted or not) is understood.
loader="$(dirname "$TURTLE6_JS")/../config/load.js"
attached=$(node --input-type=module -e '
const { loadConfigFile } = await import(process.argv[1]);
const loaded = loadConfigFile(process.argv[2]);
if (!loaded.ok) process.exit(1);
for (const i of loaded.config.interfaces) if (i.attach !== null) console.log(i.attach);
' "$loader" "$TURTLE6_CONFIG") || die "could not read the attach: interfaces from $TURTLE6_CONFIG"

for ifname in $attached; do
  # Docker connects extra networks after the container starts (docker network connect),
  # so an interface may appear a little later than the process.
  waited=0
  while [ ! -e "/sys/class/net/$ifname" ]; do
    [ "$waited" -lt "$TURTLE6_WAIT_SECONDS" ] \
      || die "interface $ifname (attach: in $TURTLE6_CONFIG) did not appear within ${TURTLE6_WAIT_SECONDS}s; connect the container to its network"
    [ "$waited" -eq 0 ] && say "waiting for $ifname"
    sleep 1
    waited=$((waited + 1))
  done
  say "$ifname is ready"
done

exec node "$TURTLE6_JS" run --config "$TURTLE6_CONFIG"
