#!/usr/bin/env bash
# Restore drill (issue 14, docs/deploy.md "Backups and the restore drill"): prove that a backup
# taken with pgBackRest plus the archived WAL restores piazza to a chosen moment, and that the
# restored database keeps its books and its audit chain.
#
#   1. a scratch primary cluster with WAL archiving into a pgBackRest repository;
#   2. piazza migrated and seeded there through PgBouncer in transaction mode (as production runs:
#      demo gifts, fees, ledger, audit), then a full backup;
#   3. more writes after the backup (they exist only in the archived WAL), the moment T noted,
#      then a disaster after T (the schema dropped);
#   4. point-in-time restore to T into a second scratch cluster, started on its own port;
#   5. there: `check_ledger`, `check_audit --expect-head` (the chain reaches the head seen at T),
#      the post-backup writes present, the disaster absent.
# Exits non-zero at the first failed step. Runs as root (clusters run as the postgres user) or as
# postgres. Usage: bash scripts/restore-drill.sh [people]   (default 40 demo people)
set -euo pipefail
cd "$(dirname "$0")/.."

PEOPLE="${1:-40}"
PY="${PY:-.venv/bin/python}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
command -v pgbackrest >/dev/null || { echo "restore drill: pgbackrest is not installed (apt-get install pgbackrest)" >&2; exit 2; }
PGBOUNCER="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[ -x "$PGBOUNCER" ] || { echo "restore drill: pgbouncer is not installed (apt-get install pgbouncer)" >&2; exit 2; }
[ -x "$PGBIN/initdb" ] || { echo "restore drill: PostgreSQL server binaries not found" >&2; exit 2; }

as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

WORK="$(mktemp -d /tmp/piazza-drill.XXXXXX)"
chmod 755 "$WORK"
PRIMARY="$WORK/primary" RESTORED="$WORK/restored" REPO="$WORK/repo" CONF="$WORK/pgbackrest.conf"
P1="$(free_port)" P2="$(free_port)" PB="$(free_port)"
mkdir -p "$REPO" "$WORK/log" "$WORK/lock"
chown -R postgres: "$WORK" 2>/dev/null || true

cleanup() {
  [ -f "$WORK/pgbouncer.pid" ] && kill "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$RESTORED" -m immediate stop >/dev/null 2>&1 || true
  as_pg "$PGBIN/pg_ctl" -D "$PRIMARY" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$CONF" <<EOF
[global]
repo1-path=$REPO
repo1-retention-full=1
log-path=$WORK/log
lock-path=$WORK/lock
log-level-console=warn
start-fast=y

[piazza]
pg1-path=$PRIMARY
pg1-port=$P1
pg1-socket-path=$WORK
EOF
chown postgres: "$CONF" 2>/dev/null || true
BR=(pgbackrest "--config=$CONF" --stanza=piazza)

step() { printf '\n== %s\n' "$*"; }
psql1() { as_pg "$PGBIN/psql" -X -q -t -A -h "$WORK" -p "$P1" -d piazza -v ON_ERROR_STOP=1 -c "$1"; }
psql2() { as_pg "$PGBIN/psql" -X -q -t -A -h "$WORK" -p "$P2" -d piazza -v ON_ERROR_STOP=1 -c "$1"; }

step "1. scratch primary with WAL archiving (port $P1)"
as_pg "$PGBIN/initdb" -D "$PRIMARY" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$PRIMARY/postgresql.conf" <<EOF
port = $P1
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
wal_level = replica
archive_mode = on
archive_command = 'pgbackrest --config=$CONF --stanza=piazza archive-push %p'
max_wal_senders = 3
EOF
as_pg "$PGBIN/pg_ctl" -D "$PRIMARY" -l "$WORK/log/primary.log" -w start >/dev/null
as_pg "${BR[@]}" stanza-create
as_pg "$PGBIN/createdb" -h "$WORK" -p "$P1" piazza

step "2. piazza migrated and seeded ($PEOPLE people) through PgBouncer (port $PB), then a full backup"
cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
piazza = host=127.0.0.1 port=$P1 dbname=piazza
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PB
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = transaction
admin_users = postgres
default_pool_size = 4
logfile = $WORK/log/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
EOF
echo '"postgres" ""' >"$WORK/userlist.txt"
chown postgres: "$WORK/pgbouncer.ini" "$WORK/userlist.txt" 2>/dev/null || true
as_pg "$PGBOUNCER" -d "$WORK/pgbouncer.ini"
export PIAZZA_ENV=development REDIS_URL="" EMAIL_BACKEND=django.core.mail.backends.locmem.EmailBackend
export DATABASE_URL="postgres://postgres@127.0.0.1:$PB/piazza" DB_TRANSACTION_POOLING=true
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py load_territory >/dev/null
"$PY" manage.py seed_demo --people "$PEOPLE" >/dev/null
[ "$(as_pg "$PGBIN/psql" -X -t -A -h 127.0.0.1 -p "$PB" -d pgbouncer -c "SHOW POOLS" | grep -c '^piazza|')" -ge 1 ] \
  || { echo "restore drill: the seeding did not go through PgBouncer" >&2; exit 1; }
as_pg "${BR[@]}" --type=full backup
# The set to restore from, named rather than chosen by time: a backup that ends in the same second
# as T would otherwise not count as "before T" (pgBackRest keeps whole-second stop times).
SET="$(as_pg "${BR[@]}" --output=json info | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[0]["backup"][-1]["label"])')"

step "3. writes after the backup, the moment T, then the disaster"
psql1 "CREATE TABLE drill_after_backup (note text); INSERT INTO drill_after_backup VALUES ('written after the backup');"
LEDGER_AT_T="$(psql1 "SELECT count(*) FROM ledger_entry")"
AUDIT_HEAD_AT_T="$(psql1 "SELECT coalesce(max(seq), 0) FROM core_auditentry")"
T="$(psql1 "SELECT clock_timestamp()")"
psql1 "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
as_pg "${BR[@]}" check  # switches WAL and waits until the segment holding T is archived
as_pg "$PGBIN/pg_ctl" -D "$PRIMARY" -m immediate stop >/dev/null
echo "T = $T; ledger entries at T: $LEDGER_AT_T; audit head at T: $AUDIT_HEAD_AT_T"

step "4. point-in-time restore to T (port $P2)"
mkdir -p "$RESTORED" && chown postgres: "$RESTORED" 2>/dev/null || true
chmod 700 "$RESTORED"
as_pg "${BR[@]}" "--pg1-path=$RESTORED" "--set=$SET" --type=time "--target=$T" --target-action=promote restore
as_pg "$PGBIN/pg_ctl" -D "$RESTORED" -l "$WORK/log/restored.log" -w \
  -o "-p $P2 -c archive_mode=off -c unix_socket_directories=$WORK" start >/dev/null
for _ in $(seq 1 60); do
  [ "$(psql2 "SELECT pg_is_in_recovery()")" = f ] && break
  sleep 1
done

step "5. the restored database keeps its books and its audit chain"
export DATABASE_URL="postgres://postgres@127.0.0.1:$P2/piazza" DB_TRANSACTION_POOLING=false
[ "$(psql2 "SELECT note FROM drill_after_backup")" = "written after the backup" ] \
  || { echo "restore drill: the write made after the backup is missing (WAL not replayed)" >&2; exit 1; }
[ "$(psql2 "SELECT count(*) FROM ledger_entry")" = "$LEDGER_AT_T" ] \
  || { echo "restore drill: ledger entries differ from those at T" >&2; exit 1; }
"$PY" manage.py check_ledger
"$PY" manage.py check_audit --expect-head "$AUDIT_HEAD_AT_T"
echo "restore drill: passed (restored to $T; ${LEDGER_AT_T} ledger entries, audit chain to ${AUDIT_HEAD_AT_T})"
