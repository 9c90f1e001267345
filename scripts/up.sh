#!/usr/bin/env bash
# README command (a): install what is needed, then run the all-in-one cloud
# in the foreground (Ctrl-C stops it). Extra arguments go to `nimbus up`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
exec node bin/nimbus.js up "$@"
