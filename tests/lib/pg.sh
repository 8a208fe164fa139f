# tests/lib/pg.sh - sourced by integration tests after tests/lib/common.sh: a private PostgreSQL
# cluster under $T, run as the `postgres` user (initdb refuses root), listening only on a Unix
# socket in its own folder (listen_addresses=''), fsync on. pg_start exports PGHOST, PGPORT,
# PGDATABASE and PGUSER, so psql and the receiver (libpq's PG* environment) find it; a cleanup
# hook stops it. pg_restart stops and starts it again (same data, same socket). PG_SHARED_BUFFERS
# sets the server's shared_buffers (default 64MB; benchmarks may give it more).
PG_BINDIR=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PG_BINDIR/initdb" ] || { echo "no PostgreSQL server binaries (apt-get install postgresql)"; exit 1; }
PG_DIR="$T/pg"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/pg.log"

# Run a PostgreSQL server binary as the postgres user (as is when we are not root).
pg__as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A port number no other cluster on this machine uses for its socket name or on loopback.
pg__free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

pg__ctl_start() {
  pg__as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
    -o "-p $PGPORT -k $PG_DIR -c listen_addresses=''" start > /dev/null ||
    { tail -20 "$PG_LOG" >&2; fail "PostgreSQL did not start"; }
}

# pg_start: create and start the cluster, and a database "hubcap" owned by postgres.
pg_start() {
  mkdir -p "$PG_DIR"
  # $T is 0700 root-owned from mktemp; the postgres user must reach its own folder inside it
  if [ "$(id -u)" -eq 0 ]; then chmod 0711 "$T"; chown postgres: "$PG_DIR"; fi
  chmod 0700 "$PG_DIR"
  pg__as "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    > "$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; fail "initdb failed"; }
  {
    echo "fsync = on"
    echo "unix_socket_permissions = 0777"
    echo "max_connections = 40"
    echo "shared_buffers = ${PG_SHARED_BUFFERS:-64MB}"
  } >> "$PG_DATA/postgresql.conf"
  export PGHOST="$PG_DIR" PGPORT PGUSER=postgres PGDATABASE=hubcap
  PGPORT=$(pg__free_port)
  pg__ctl_start
  hc_cleanup_hooks+=("pg_stop")
  # the socket folder must be reachable by root's clients too
  chmod 0755 "$PG_DIR"
  psql -X -q -d postgres -c "CREATE DATABASE hubcap" > /dev/null || fail "CREATE DATABASE failed"
}

# pg_stop: a fast shutdown (no error when it is not running).
pg_stop() {
  [ -f "$PG_DATA/postmaster.pid" ] || return 0
  pg__as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop > /dev/null 2>&1 || true
}

# pg_restart: stop (fast) and start again on the same socket.
pg_restart() {
  pg__as "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop > /dev/null ||
    fail "PostgreSQL did not stop"
  pg__ctl_start
}

# pg_sql SQL: one value (or rows, '|'-separated) from the test database.
pg_sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

# pg_start_again: start the cluster again after pg_stop (same data, same socket).
pg_start_again() { pg__ctl_start; }
