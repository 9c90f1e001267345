#!/bin/bash
# Runs the OpenStack Zed peer (/work/shared/peers/openstack-zed) inside its own
# network namespace, so its Keystone/Glance/Nova/Neutron on 127.0.0.1:5000,
# 9292, 8774 and 9696 do not collide with a Nimbus cloud listening on the same
# default ports on this machine. The machine's MariaDB (unix socket) and
# RabbitMQ (127.0.0.1:5672) are reached from inside through socat bridges; the
# peer's memcached runs inside the namespace. Nothing is added to the root
# namespace's addresses or routes.
#
#   bench/zed-netns.sh up          # create the namespace + bridges, run setup.sh inside (~7 min)
#   bench/zed-netns.sh exec CMD..  # run CMD inside, e.g. the boot bench:
#       bench/zed-netns.sh exec bash -c '. /work/shared/peers/openstack-zed/env.sh &&
#           npm run bench:boot -- --compare-os-env --cycles 1000 --os-cycles 100'
#   bench/zed-netns.sh down        # stop.sh inside, stop the bridges, delete the namespace
set -euo pipefail
NS=${NIMBUS_ZED_NETNS:-nimbus-zed}
PEER=${NIMBUS_ZED_PEER:-/work/shared/peers/openstack-zed}
RUN=/run/$NS
MYSQL_SOCK=${MYSQL_SOCK:-/run/mysqld/mysqld.sock}

# bridge NAME PIDFILE SOCAT-ARGS...: start one socat in the background, remember its pid.
bridge() {
  local name=$1 pidf=$2; shift 2
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then return 0; fi
  "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$pidf"
}

# The namespace has no route to Debian's mirror: install the peer's packages from
# the root namespace first, with setup.sh's own package list, preseeding and
# policy-rc.d (its functions, read from the script, not copied here).
install_packages() {
  # shellcheck disable=SC2016
  bash -c 'set -euo pipefail; export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
    log() { echo "[zed-netns] $*"; }
    WITH_NEUTRON=${WITH_NEUTRON:-1}
    eval "$(sed -n "/^PKGS=/,/^\[ \"\$WITH_NEUTRON\" = 1 \] && PKGS=/p; /^preseed() {/,/^}/p; /^install_pkgs() {/,/^}/p" "$1")"
    install_pkgs' _ "$PEER/setup.sh"
}

up() {
  mkdir -p "$RUN"
  ip netns list | grep -qw "$NS" || ip netns add "$NS"
  ip -n "$NS" link set lo up
  # RabbitMQ: netns 127.0.0.1:5672 -> unix socket -> root namespace 127.0.0.1:5672.
  bridge rabbit-root "$RUN/rabbit-root.pid" \
    socat UNIX-LISTEN:"$RUN/rabbit.sock",fork,unlink-early TCP:127.0.0.1:5672
  bridge rabbit-ns "$RUN/rabbit-ns.pid" \
    ip netns exec "$NS" socat TCP-LISTEN:5672,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$RUN/rabbit.sock"
  # MariaDB: netns 127.0.0.1:3306 -> the server's unix socket.
  bridge mysql-ns "$RUN/mysql-ns.pid" \
    ip netns exec "$NS" socat TCP-LISTEN:3306,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$MYSQL_SOCK"
  local i
  for i in $(seq 1 50); do
    ip netns exec "$NS" bash -c '(exec 3<>/dev/tcp/127.0.0.1/5672) && (exec 3<>/dev/tcp/127.0.0.1/3306)' \
      2>/dev/null && break
    sleep 0.2
  done
  # setup.sh writes its server settings there; this machine's my.cnf has no such include
  # directory, so the file is only kept, and the one setting that matters is set live.
  mkdir -p /etc/mysql/mariadb.conf.d
  # setup.sh asks for max_connections = 1000 in a config file that only a restart reads.
  mysql --protocol=socket -u root -e 'SET GLOBAL max_connections = GREATEST(@@max_connections, 1000)'
  install_packages
  ip netns exec "$NS" bash "$PEER/setup.sh"
}

down() {
  if ip netns list | grep -qw "$NS"; then ip netns exec "$NS" bash "$PEER/stop.sh" || true; fi
  local f
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  # `ip netns exec socat` leaves its socat child when only the ip parent is signalled.
  for f in $(ip netns pids "$NS" 2>/dev/null); do
    if [ "$(cat /proc/"$f"/comm 2>/dev/null)" = socat ]; then kill "$f" 2>/dev/null || true; fi
  done
  rm -f "$RUN/rabbit.sock"
  if ip netns list | grep -qw "$NS"; then
    if [ -n "$(ip netns pids "$NS")" ]; then
      echo "processes still in $NS: $(ip netns pids "$NS" | tr '\n' ' ')" >&2
      return 1
    fi
    ip netns del "$NS"
  fi
  echo "namespace $NS removed"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  exec) shift; exec ip netns exec "$NS" "$@" ;;
  *) echo "usage: $0 up | exec CMD... | down" >&2; exit 2 ;;
esac
