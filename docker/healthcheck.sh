#!/bin/sh
# turtle6 container health (the image's HEALTHCHECK): healthy when turtle6 answers on its
# control socket and every lane thread runs.
#
# Environment:
#   TURTLE6CTL_JS   turtle6ctl's CLI   (default /app/dist/src/app/turtle6ctl.js)
#   TURTLE6_SOCKET  the control socket (default /run/turtle6/turtle6.sock, the config default)
set -eu

TURTLE6CTL_JS="${TURTLE6CTL_JS:-/app/dist/src/app/turtle6ctl.js}"
TURTLE6_SOCKET="${TURTLE6_SOCKET:-/run/turtle6/turtle6.sock}"

lanes=$(node "$TURTLE6CTL_JS" --socket "$TURTLE6_SOCKET" show lanes) || exit 1
# A table: a header line, then one row per lane whose second column is its state.
printf '%s\n' "$lanes" | awk '
  NR == 1 { next }
  { rows++ }
  $2 != "running" { print "lane " $1 " is " $2; bad = 1 }
  END { if (rows == 0) print "no lanes"; exit (bad || rows == 0) }'
