# shellcheck shell=bash
# FlowPilot local development environment.
#
# Usage (from the Makefile / scripts; bash only):
#   source scripts/dev_env.sh          # = "run": venv + Postgres + Redis + secrets, all exported
#   source scripts/dev_env.sh test     # venv + services for pytest (FLOWPILOT_TEST_* only)
#   source scripts/dev_env.sh install  # venv + `pip install -e '.[test]'` only
#   source scripts/dev_env.sh --lib    # define the fp_* functions, do nothing else
#   bash scripts/dev_env.sh [run]      # set everything up and print the resulting exports
#   bash scripts/dev_env.sh stop       # stop the private Postgres/Redis under .run/
#   bash scripts/dev_env.sh clean      # stop them and delete .run/ (private data, demo token, key)
#   bash scripts/dev_env.sh status     # show what is running
#
# Service selection for "run" (first that works wins):
#   Postgres: $DATABASE_URL if reachable (with $FLOWPILOT_SYSTEM_DATABASE_URL for the system role)
#             -> local server 127.0.0.1:5432 as superuser `postgres` (roles flowpilot, flowpilot_system,
#                flowpilot_owner and database flowpilot created)
#             -> private server under .run/pg on port 55432 (initdb -U postgres, trust auth)
#   Redis:    $REDIS_URL if reachable -> 127.0.0.1:6379 -> private redis-server on port 56379
# FLOWPILOT_FORCE_PRIVATE=1 skips straight to the private instances (they never touch the
# local servers). Ports: FLOWPILOT_PRIVATE_PG_PORT (55432), FLOWPILOT_PRIVATE_REDIS_PORT (56379).
#
# Functions return non-zero on failure (they never `exit`), so sourcing this file from an
# interactive shell cannot close it; the scripts that source it use `set -e` / `|| exit 1`.

FP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FP_VENV="$FP_ROOT/.venv"
FP_RUN="$FP_ROOT/.run"
FP_PG_PORT="${FLOWPILOT_PRIVATE_PG_PORT:-55432}"
FP_REDIS_PORT="${FLOWPILOT_PRIVATE_REDIS_PORT:-56379}"
FP_LOCAL_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:5432/postgres"
FP_LOCAL_REDIS_URL="redis://127.0.0.1:6379/0"
FP_DB_NAME="flowpilot"
FP_APP_ROLE="flowpilot"
FP_SYSTEM_ROLE="flowpilot_system"
FP_OWNER_ROLE="flowpilot_owner"

fp_log() { printf '[dev_env] %s\n' "$*" >&2; }
fp_err() { printf '[dev_env] ERROR: %s\n' "$*" >&2; }

# Hide a password in a URL before printing it.
fp_mask() { printf '%s' "$1" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#'; }

fp_truthy() { case "${1:-}" in 1 | true | TRUE | yes | on) return 0 ;; *) return 1 ;; esac; }

fp_missing_packages() {
    fp_err "$1"
    fp_err "Install the Debian packages:  sudo apt-get install -y postgresql redis-server"
    fp_err "(or point DATABASE_URL / REDIS_URL at servers you already have)."
    return 1
}

# --------------------------------------------------------------------------- venv / install

fp_find_python() {
    local cand
    for cand in python3.11 python3.12 python3; do
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)' 2>/dev/null; then
            command -v "$cand"
            return 0
        fi
    done
    return 1
}

# Create .venv if needed and (re)install the project when setup.cfg/pyproject.toml changed.
fp_ensure_venv() {
    local py stamp="$FP_VENV/.installed"
    if [[ ! -x "$FP_VENV/bin/python" ]]; then
        py="$(fp_find_python)" || {
            fp_err "Python 3.11 or 3.12 is required (tried python3.11, python3.12, python3)."
            return 1
        }
        fp_log "creating virtualenv .venv with $py"
        "$py" -m venv "$FP_VENV" || return 1
        rm -f "$stamp"
    fi
    if [[ ! -f "$stamp" || "$FP_ROOT/setup.cfg" -nt "$stamp" || "$FP_ROOT/pyproject.toml" -nt "$stamp" ]]; then
        fp_log "installing the project into .venv (pip install -e '.[test]'; log: .venv/pip-install.log)"
        (
            cd "$FP_ROOT" || exit 1
            export PIP_DISABLE_PIP_VERSION_CHECK=1
            # setuptools is chatty even with -q; keep its output in a log, show it on failure.
            if ! "$FP_VENV/bin/python" -m pip install -q -e '.[test]' >"$FP_VENV/pip-install.log" 2>&1; then
                # Offline machines cannot fetch the isolated build backend; reuse the venv's own.
                fp_log "retrying without build isolation"
                "$FP_VENV/bin/python" -m pip install -q setuptools wheel >>"$FP_VENV/pip-install.log" 2>&1 || true
                "$FP_VENV/bin/python" -m pip install -q --no-build-isolation -e '.[test]' >>"$FP_VENV/pip-install.log" 2>&1
            fi
        ) || {
            fp_err "pip install -e '.[test]' failed; last lines of .venv/pip-install.log:"
            tail -n 30 "$FP_VENV/pip-install.log" >&2
            return 1
        }
        touch "$stamp"
    fi
    export VIRTUAL_ENV="$FP_VENV"
    case ":$PATH:" in
    *":$FP_VENV/bin:"*) ;;
    *) export PATH="$FP_VENV/bin:$PATH" ;;
    esac
}

# --------------------------------------------------------------------------- probes

# Does this Postgres URL answer `$2` with true? (exit 0 = yes; 1 = false; anything else = cannot connect)
fp_pg_true() {
    "$FP_VENV/bin/python" - "$1" "$2" >/dev/null 2>&1 <<'PY'
import re, sys
import psycopg2
url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", sys.argv[1])
conn = psycopg2.connect(url, connect_timeout=3)
cur = conn.cursor()
cur.execute(sys.argv[2])
sys.exit(0 if cur.fetchone()[0] else 1)
PY
}

# Can we connect to this Postgres URL (and run a query)?
fp_pg_ok() { fp_pg_true "$1" "SELECT true"; }

# Is the role behind this URL a superuser? (exit 0 = yes)
fp_pg_is_superuser() { fp_pg_true "$1" "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"; }

# Does the role behind this URL bypass row-level security? (exit 0 = yes: bad for the app role)
fp_pg_bypasses_rls() {
    fp_pg_true "$1" "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
}

fp_redis_ok() {
    local url="$1"
    if [[ "$url" != rediss://* ]] && command -v redis-cli >/dev/null 2>&1; then
        [[ "$(timeout 5 redis-cli -u "$url" ping 2>/dev/null)" == "PONG" ]]
        return
    fi
    "$FP_VENV/bin/python" - "$url" >/dev/null 2>&1 <<'PY'
import sys
import redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3, socket_timeout=3).ping()
PY
}

# --------------------------------------------------------------------------- roles / database

# Create roles flowpilot_owner, flowpilot (requests) and flowpilot_system (the only role allowed into
# the system scope) and database flowpilot (owned by flowpilot_owner) through a superuser URL, if
# missing. Idempotent; prints what it changed.
fp_pg_bootstrap() {
    "$FP_VENV/bin/python" - "$1" "$FP_DB_NAME" "$FP_OWNER_ROLE" "$FP_APP_ROLE" "$FP_SYSTEM_ROLE" <<'PY'
import sys
import psycopg2
from psycopg2 import sql

admin, dbname, owner, app, system = sys.argv[1:6]
ROLE_ATTRS = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"


def say(msg):
    print(f"[dev_env] {msg}", file=sys.stderr)


conn = psycopg2.connect(admin, connect_timeout=5)
conn.autocommit = True
cur = conn.cursor()
for role in (owner, app, system):
    cur.execute("SELECT rolsuper OR rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s", (role,))
    row = cur.fetchone()
    if row is None:
        cur.execute(sql.SQL(f"CREATE ROLE {{}} {ROLE_ATTRS}").format(sql.Identifier(role)))
        say(f"created role {role}")
    elif row[0] or not row[1]:
        cur.execute(sql.SQL(f"ALTER ROLE {{}} {ROLE_ATTRS}").format(sql.Identifier(role)))
        say(f"role {role}: set {ROLE_ATTRS}")
cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (dbname,))
row = cur.fetchone()
if row is None:
    cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(owner)))
    say(f"created database {dbname} (owner {owner})")
    db = psycopg2.connect(admin.rsplit("/", 1)[0] + "/" + dbname, connect_timeout=5)
    db.autocommit = True
    with db.cursor() as c:
        # Only the owner may create objects; the app role gets DML grants from the migration.
        c.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
        c.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    db.close()
elif row[0] != owner:
    say(f"WARNING: database {dbname} exists but is owned by {row[0]}, not {owner}; leaving it alone")
conn.close()
PY
}

# --------------------------------------------------------------------------- private Postgres

fp_pg_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d="$(pg_config --bindir 2>/dev/null)"
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

# initdb refuses to run as root: as root, run the server as the `postgres` system user.
fp_pg_user() {
    if [[ $EUID -ne 0 ]]; then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        return 1
    fi
}

fp_as_pg_user() {
    if [[ $EUID -ne 0 ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        # cd /: the checkout may not be readable by postgres (all paths here are absolute).
        (cd / && runuser -u postgres -- "$@")
    else
        local q
        printf -v q '%q ' "$@"
        (cd / && su postgres -s /bin/sh -c "$q")
    fi
}

# Where the private cluster lives: .run/pg normally. If the `postgres` user cannot reach the
# checkout (e.g. it sits under /root), a directory under /tmp is used and remembered in
# .run/pg/home so `stop` finds it.
fp_pg_home() {
    if [[ -s "$FP_RUN/pg/home" ]]; then
        cat "$FP_RUN/pg/home"
    else
        printf '%s\n' "$FP_RUN/pg"
    fi
}

fp_pg_private_running() {
    local bindir home
    bindir="$(fp_pg_bindir)" || return 1
    home="$(fp_pg_home)"
    [[ -f "$home/data/PG_VERSION" ]] || return 1
    fp_as_pg_user "$bindir/pg_ctl" -D "$home/data" status >/dev/null 2>&1
}

fp_pg_start_private() {
    local bindir user home
    bindir="$(fp_pg_bindir)" || {
        fp_missing_packages "PostgreSQL server binaries (initdb, pg_ctl) not found and no reachable Postgres."
        return 1
    }
    user="$(fp_pg_user)" || {
        fp_err "running as root but there is no 'postgres' system user to own the private cluster"
        return 1
    }
    mkdir -p "$FP_RUN/pg" || return 1
    home="$(fp_pg_home)"
    if [[ $EUID -eq 0 && ! -s "$FP_RUN/pg/home" ]]; then
        chown "$user" "$FP_RUN/pg"
        if ! fp_as_pg_user test -w "$FP_RUN/pg"; then
            home="${TMPDIR:-/tmp}/flowpilot-pg-$(printf '%s' "$FP_ROOT" | cksum | cut -d' ' -f1)"
            fp_log "user $user cannot write to $FP_RUN/pg; keeping the private cluster in $home"
            mkdir -p "$home" && chown "$user" "$home" && chmod 700 "$home" || return 1
            printf '%s\n' "$home" >"$FP_RUN/pg/home"
        fi
    fi
    if fp_pg_private_running; then
        fp_log "private Postgres already running ($home/data, port $FP_PG_PORT)"
        return 0
    fi
    if [[ ! -f "$home/data/PG_VERSION" ]]; then
        fp_log "initdb private Postgres cluster in $home/data (superuser postgres, trust auth)"
        fp_as_pg_user "$bindir/initdb" -D "$home/data" -U postgres -A trust -E UTF8 --locale=C \
            >"$home/initdb.log" 2>&1 || {
            fp_err "initdb failed; see $home/initdb.log:"
            tail -n 20 "$home/initdb.log" >&2
            return 1
        }
    fi
    # Unix socket paths are limited to ~107 bytes; a deep checkout falls back to /tmp.
    local sockdir="$home"
    ((${#sockdir} > 80)) && sockdir=/tmp
    fp_log "starting private Postgres on 127.0.0.1:$FP_PG_PORT (log: $home/postgres.log)"
    if ! fp_as_pg_user "$bindir/pg_ctl" -D "$home/data" -l "$home/postgres.log" -w -t 30 \
        -o "-p $FP_PG_PORT -c listen_addresses=127.0.0.1 -k '$sockdir' -c synchronous_commit=off" \
        start >/dev/null; then
        fp_err "private Postgres did not start (is port $FP_PG_PORT taken? set FLOWPILOT_PRIVATE_PG_PORT):"
        tail -n 20 "$home/postgres.log" >&2
        return 1
    fi
}

fp_pg_stop_private() {
    local bindir home
    home="$(fp_pg_home)"
    [[ -f "$home/data/PG_VERSION" ]] || {
        fp_log "no private Postgres under $home"
        return 0
    }
    bindir="$(fp_pg_bindir)" || return 1
    if fp_pg_private_running; then
        fp_log "stopping private Postgres ($home/data)"
        fp_as_pg_user "$bindir/pg_ctl" -D "$home/data" -m fast -w stop >/dev/null
    else
        fp_log "private Postgres is not running"
    fi
}

# --------------------------------------------------------------------------- private Redis

fp_redis_start_private() {
    local dir="$FP_RUN/redis" i
    if ! command -v redis-server >/dev/null 2>&1; then
        fp_missing_packages "redis-server not found and no reachable Redis."
        return 1
    fi
    if fp_redis_ok "redis://127.0.0.1:$FP_REDIS_PORT/0"; then
        fp_log "private Redis already running on port $FP_REDIS_PORT"
        return 0
    fi
    mkdir -p "$dir" || return 1
    fp_log "starting private Redis on 127.0.0.1:$FP_REDIS_PORT (log: $dir/redis.log)"
    redis-server --port "$FP_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" || {
        fp_err "redis-server failed to start"
        return 1
    }
    for i in $(seq 1 50); do
        fp_redis_ok "redis://127.0.0.1:$FP_REDIS_PORT/0" && return 0
        sleep 0.1
    done
    fp_err "private Redis did not answer on port $FP_REDIS_PORT:"
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null
    return 1
}

fp_redis_stop_private() {
    local pidfile="$FP_RUN/redis/redis.pid" pid i
    if [[ ! -s "$pidfile" ]]; then
        fp_log "no private Redis pidfile ($pidfile)"
        return 0
    fi
    pid="$(cat "$pidfile")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        ps -p "$pid" -o args= | grep -q "redis-server.*:$FP_REDIS_PORT"; then
        fp_log "stopping private Redis (pid $pid)"
        kill "$pid"
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    else
        fp_log "private Redis is not running"
    fi
    rm -f "$pidfile"
}

# --------------------------------------------------------------------------- selection

fp_setup_postgres() {
    local force=0
    fp_truthy "${FLOWPILOT_FORCE_PRIVATE:-}" && force=1
    if [[ $force -eq 0 && -n "${DATABASE_URL:-}" ]]; then
        if fp_pg_ok "$DATABASE_URL"; then
            fp_log "Postgres: using DATABASE_URL ($(fp_mask "$DATABASE_URL"))"
            if fp_pg_bypasses_rls "$DATABASE_URL"; then
                fp_log "WARNING: the DATABASE_URL role is a superuser or BYPASSRLS; row-level security is NOT enforced"
            fi
            if [[ -n "${FLOWPILOT_MIGRATION_DATABASE_URL:-}" ]]; then
                export FLOWPILOT_MIGRATION_DATABASE_URL
            fi
            if [[ -n "${FLOWPILOT_SYSTEM_DATABASE_URL:-}" ]]; then
                export FLOWPILOT_SYSTEM_DATABASE_URL
            else
                fp_log "WARNING: FLOWPILOT_SYSTEM_DATABASE_URL is unset: the sweeper, token lookups and ops need the"
                fp_log "         system role (a role other than DATABASE_URL's; see README, Tenancy and security)"
            fi
            export DATABASE_URL
            FP_PG_MODE=env
            return 0
        fi
        fp_log "DATABASE_URL ($(fp_mask "$DATABASE_URL")) is not reachable; falling back to a local server"
    fi
    local admin host port
    if [[ $force -eq 0 ]] && fp_pg_ok "$FP_LOCAL_PG_ADMIN_URL" && fp_pg_is_superuser "$FP_LOCAL_PG_ADMIN_URL"; then
        admin="$FP_LOCAL_PG_ADMIN_URL"
        host=127.0.0.1 port=5432
        FP_PG_MODE=local
        fp_log "Postgres: local server 127.0.0.1:5432"
    else
        fp_pg_start_private || return 1
        admin="postgresql://postgres@127.0.0.1:$FP_PG_PORT/postgres"
        host=127.0.0.1 port="$FP_PG_PORT"
        FP_PG_MODE=private
        fp_log "Postgres: private server 127.0.0.1:$FP_PG_PORT"
    fi
    fp_pg_bootstrap "$admin" || {
        fp_err "could not create the flowpilot roles/database via $(fp_mask "$admin")"
        return 1
    }
    export FLOWPILOT_MIGRATION_DATABASE_URL="postgresql://$FP_OWNER_ROLE@$host:$port/$FP_DB_NAME"
    export DATABASE_URL="postgresql://$FP_APP_ROLE@$host:$port/$FP_DB_NAME"
    export FLOWPILOT_SYSTEM_DATABASE_URL="postgresql://$FP_SYSTEM_ROLE@$host:$port/$FP_DB_NAME"
}

fp_setup_redis() {
    local force=0
    fp_truthy "${FLOWPILOT_FORCE_PRIVATE:-}" && force=1
    if [[ $force -eq 0 && -n "${REDIS_URL:-}" ]]; then
        if fp_redis_ok "$REDIS_URL"; then
            fp_log "Redis: using REDIS_URL ($(fp_mask "$REDIS_URL"))"
            export REDIS_URL
            FP_REDIS_MODE=env
            return 0
        fi
        fp_log "REDIS_URL ($(fp_mask "$REDIS_URL")) is not reachable; falling back to a local server"
    fi
    if [[ $force -eq 0 ]] && fp_redis_ok "$FP_LOCAL_REDIS_URL"; then
        export REDIS_URL="$FP_LOCAL_REDIS_URL"
        FP_REDIS_MODE=local
        fp_log "Redis: local server 127.0.0.1:6379"
        return 0
    fi
    fp_redis_start_private || return 1
    export REDIS_URL="redis://127.0.0.1:$FP_REDIS_PORT/0"
    FP_REDIS_MODE=private
    fp_log "Redis: private server 127.0.0.1:$FP_REDIS_PORT"
}

fp_setup_secret() {
    if [[ -n "${FLOWPILOT_SECRET_KEYS:-}" ]]; then
        export FLOWPILOT_SECRET_KEYS
        return 0
    fi
    local file="$FP_RUN/secret_key"
    mkdir -p "$FP_RUN" || return 1
    if [[ ! -s "$file" ]]; then
        fp_log "generating a Fernet key in .run/secret_key (kept for later runs)"
        (
            umask 077
            "$FP_VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' >"$file.tmp" &&
                mv "$file.tmp" "$file"
        ) || return 1
    fi
    chmod 600 "$file"
    FLOWPILOT_SECRET_KEYS="$(tr -d '[:space:]' <"$file")"
    export FLOWPILOT_SECRET_KEYS
}

fp_setup_defaults() {
    export FLOWPILOT_PSA_ALLOWED_HOSTS="${FLOWPILOT_PSA_ALLOWED_HOSTS:-127.0.0.1:8765}"
    export FLOWPILOT_REDIS_NAMESPACE="${FLOWPILOT_REDIS_NAMESPACE:-flowpilot}"
    export PORT="${PORT:-8000}"
}

# Everything `make run` needs.
fp_dev_env() {
    fp_ensure_venv || return 1
    fp_setup_postgres || return 1
    fp_setup_redis || return 1
    fp_setup_secret || return 1
    fp_setup_defaults
}

# Services for pytest. The tests build throwaway databases from FLOWPILOT_TEST_ADMIN_URL (a
# superuser URL) and use Redis db 15 with a random namespace; nothing here points at the
# `make run` database. Local servers are preferred; private ones start only if those are down.
fp_test_env() {
    fp_ensure_venv || return 1
    local force=0
    fp_truthy "${FLOWPILOT_FORCE_PRIVATE:-}" && force=1
    # Never let a `make run` configuration leak into the tests.
    unset DATABASE_URL FLOWPILOT_MIGRATION_DATABASE_URL FLOWPILOT_SYSTEM_DATABASE_URL REDIS_URL
    if [[ -n "${FLOWPILOT_TEST_ADMIN_URL:-}" ]]; then
        fp_log "tests: Postgres from FLOWPILOT_TEST_ADMIN_URL ($(fp_mask "$FLOWPILOT_TEST_ADMIN_URL"))"
    elif [[ $force -eq 0 ]] && fp_pg_ok "$FP_LOCAL_PG_ADMIN_URL"; then
        fp_log "tests: local Postgres 127.0.0.1:5432"
    else
        fp_pg_start_private || return 1
        export FLOWPILOT_TEST_ADMIN_URL="postgresql://postgres@127.0.0.1:$FP_PG_PORT/postgres"
        fp_log "tests: private Postgres 127.0.0.1:$FP_PG_PORT"
    fi
    if [[ -n "${FLOWPILOT_TEST_REDIS_URL:-}" ]]; then
        fp_log "tests: Redis from FLOWPILOT_TEST_REDIS_URL ($(fp_mask "$FLOWPILOT_TEST_REDIS_URL"))"
    elif [[ $force -eq 0 ]] && fp_redis_ok "redis://127.0.0.1:6379/15"; then
        fp_log "tests: local Redis 127.0.0.1:6379 (db 15)"
    else
        fp_redis_start_private || return 1
        export FLOWPILOT_TEST_REDIS_URL="redis://127.0.0.1:$FP_REDIS_PORT/15"
        fp_log "tests: private Redis 127.0.0.1:$FP_REDIS_PORT (db 15)"
    fi
}

fp_stop() {
    local rc=0
    fp_pg_stop_private || rc=1
    fp_redis_stop_private || rc=1
    return $rc
}

# Stop the private services and delete .run/ (private cluster, demo token, secret key).
fp_clean() {
    fp_stop || return 1
    local home
    home="$(fp_pg_home)"
    if [[ "$home" != "$FP_RUN"/* && -f "$home/data/PG_VERSION" ]]; then
        fp_log "removing $home"
        rm -rf "$home"
    fi
    fp_log "removing .run/"
    rm -rf "$FP_RUN"
}

fp_status() {
    local home
    home="$(fp_pg_home)"
    if fp_pg_private_running; then
        echo "private Postgres: running ($home/data, port $FP_PG_PORT)"
    else
        echo "private Postgres: stopped"
    fi
    if [[ -s "$FP_RUN/redis/redis.pid" ]] && kill -0 "$(cat "$FP_RUN/redis/redis.pid")" 2>/dev/null; then
        echo "private Redis: running (pid $(cat "$FP_RUN/redis/redis.pid"), port $FP_REDIS_PORT)"
    else
        echo "private Redis: stopped"
    fi
}

fp_print_exports() {
    local v
    for v in DATABASE_URL FLOWPILOT_MIGRATION_DATABASE_URL FLOWPILOT_SYSTEM_DATABASE_URL REDIS_URL FLOWPILOT_REDIS_NAMESPACE \
        FLOWPILOT_PSA_ALLOWED_HOSTS PORT FLOWPILOT_TEST_ADMIN_URL FLOWPILOT_TEST_REDIS_URL; do
        [[ -n "${!v:-}" ]] && printf 'export %s=%q\n' "$v" "${!v}"
    done
    if [[ -n "${FLOWPILOT_SECRET_KEYS:-}" ]]; then
        echo "# FLOWPILOT_SECRET_KEYS is set (from .run/secret_key unless you set it yourself)"
    fi
}

# --------------------------------------------------------------------------- entry points

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced.
    case "${1:-run}" in
    --lib) ;;
    run) fp_dev_env ;;
    test) fp_test_env ;;
    install) fp_ensure_venv ;;
    *)
        fp_err "unknown mode '${1}' (use run, test, install or --lib)"
        false
        ;;
    esac
else
    # Executed directly.
    set -uo pipefail
    case "${1:-run}" in
    run) fp_dev_env && fp_print_exports ;;
    test) fp_test_env && fp_print_exports ;;
    install) fp_ensure_venv ;;
    stop) fp_stop ;;
    clean) fp_clean ;;
    status) fp_status ;;
    *)
        echo "usage: bash scripts/dev_env.sh [run|test|install|stop|clean|status]" >&2
        exit 2
        ;;
    esac
    exit $?
fi
