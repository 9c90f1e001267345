#!/usr/bin/env bash
# README command (b): install what is needed, check the services the tests
# use, then run type check, lint, every test suite and Tempest's smoke
# selection against a fresh all-in-one cloud (any smoke failure fails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/check-services.sh
npm run --silent typecheck
npm run --silent lint
npm test
# Tempest smoke (tempest.api.{compute,identity,image,network} tagged smoke): about 3 minutes.
npm run --silent tempest -- --smoke --no-docs
