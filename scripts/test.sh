#!/usr/bin/env bash
# README command (b): install what is needed, check the services the tests
# use, then run type check, lint and every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/check-services.sh
npm run --silent typecheck
npm run --silent lint
npm test
