#!/usr/bin/env bash
# README command (b): install what is needed, check the services the tests
# use, then run type check, lint, every test suite and Tempest's smoke
# selections against fresh all-in-one clouds, one with the fake driver and
# one with real VMs (any smoke failure fails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
bash scripts/check-services.sh
npm run --silent typecheck
npm run --silent lint
npm test
# Tempest smoke (tempest.api.{compute,identity,image,network} tagged smoke): about 3 minutes.
npm run --silent tempest -- --smoke --no-docs
# Tempest's test_server_basic_ops on real guests (libvirt, TCG; SSH through a floating IP): about 1 minute.
npm run --silent tempest -- --smoke --real-vms --no-docs
