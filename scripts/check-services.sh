#!/usr/bin/env bash
# The storage and RPC suites run against the real PostgreSQL (127.0.0.1:5432)
# and RabbitMQ (127.0.0.1:5672). Fail early, with a hint, if either is down.
set -euo pipefail
WAIT_S=30
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for spec in "5432 PostgreSQL" "5672 RabbitMQ"; do
  set -- $spec
  for _ in $(seq 1 "$WAIT_S"); do port_open "$1" && break; sleep 1; done
  if ! port_open "$1"; then
    echo "check-services: $2 is not answering on 127.0.0.1:$1" >&2
    exit 1
  fi
done
