#!/usr/bin/env bash
# `make run`: set up the dev environment, migrate, make sure a demo tenant exists, print how to
# use it, then run every Procfile process (web, worker, batch, clock) under honcho.
# Ctrl-C stops them all. Private Postgres/Redis (if any were started) keep running: `make stop`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

# shellcheck source=scripts/dev_env.sh
source scripts/dev_env.sh run

DEMO="$ROOT/.run/demo.json"
BASE_URL="http://127.0.0.1:$PORT"
PY="$ROOT/.venv/bin/python"

log() { printf '[run] %s\n' "$*" >&2; }

# Print FIELD from the last line of stdin that is a JSON object (CLI output may carry log lines).
json_field() {
    "$PY" -c '
import json, sys
field = sys.argv[1]
for line in reversed(sys.stdin.read().splitlines()):
    line = line.strip()
    if line.startswith("{"):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if field in data:
            print(data[field])
            sys.exit(0)
sys.exit(1)
' "$1"
}

# Exit 0: the token authenticates; 3: rejected (401); anything else: could not tell.
check_token() {
    "$PY" - "$1" <<'PY'
import sys
import uuid

from web import create_app

app = create_app()
with app.test_client() as client:
    resp = client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers={"Authorization": f"Bearer {sys.argv[1]}"})
sys.exit(3 if resp.status_code == 401 else 0)
PY
}

log "migrating the database: flask --app web db upgrade"
if ! flask --app web db upgrade; then
    log "ERROR: 'flask --app web db upgrade' failed (output above)"
    exit 1
fi

account_id="" user_id="" token="" password=""
if [[ -s "$DEMO" ]]; then
    account_id="$(json_field account_id <"$DEMO" || true)"
    user_id="$(json_field user_id <"$DEMO" || true)"
    token="$(json_field token <"$DEMO" || true)"
    password="$(json_field password <"$DEMO" || true)"
    if [[ -n "$token" ]]; then
        set +e
        check_out="$(check_token "$token" 2>&1)"
        rc=$?
        set -e
        case $rc in
        0) log "reusing the demo account from .run/demo.json" ;;
        3)
            log "the token in .run/demo.json is no longer valid (database recreated?); creating a new demo account"
            token=""
            ;;
        *)
            log "WARNING: could not check the saved demo token (app error below); reusing it anyway"
            printf '%s\n' "$check_out" | tail -n 15 >&2
            ;;
        esac
    fi
fi

if [[ -z "$token" ]]; then
    log "creating demo account \"Demo MSP\" and admin user admin@demo.local"
    if ! out="$(flask --app web accounts create "Demo MSP" --json)" ||
        ! account_id="$(json_field account_id <<<"$out")"; then
        log "ERROR: 'flask --app web accounts create \"Demo MSP\" --json' failed:"
        printf '%s\n' "${out:-}" >&2
        exit 1
    fi
    if ! out="$(flask --app web users create --account-id "$account_id" --email admin@demo.local --role admin --json)" ||
        ! user_id="$(json_field user_id <<<"$out")" || ! token="$(json_field token <<<"$out")"; then
        log "ERROR: 'flask --app web users create' failed:"
        printf '%s\n' "${out:-}" >&2
        exit 1
    fi
    password=""
fi

# People who sign in at /app (and /ops): one per role, all with one generated password kept in .run/demo.json.
# Made when the demo account is new or the file has no password yet; an existing user just gets the password.
DEMO_PEOPLE=("admin@demo.local:admin" "engineer@demo.local:engineer" "l1@demo.local:l1" "ops@demo.local:operator")
if [[ -z "$password" ]]; then
    password="$("$PY" -c 'import secrets; print("demo-" + secrets.token_urlsafe(12))')"
    log "creating the demo sign-ins (admin, engineer, l1, operator)"
    for entry in "${DEMO_PEOPLE[@]}"; do
        email="${entry%%:*}" role="${entry##*:}"
        if [[ "$role" == operator ]]; then
            create=(operators create --email "$email" --password-stdin --json)
        else
            create=(users create --account-id "$account_id" --email "$email" --role "$role" --password-stdin --json)
        fi
        if ! printf '%s\n' "$password" | flask --app web "${create[@]}" >/dev/null 2>&1; then
            # It exists already (the admin always does): set its password instead.
            scope=()
            [[ "$role" == operator ]] || scope=(--account-id "$account_id")
            if ! out="$(printf '%s\n' "$password" | flask --app web users set-password --email "$email" "${scope[@]}" 2>&1)"; then
                log "ERROR: could not create or update the demo user $email:"
                printf '%s\n' "$out" >&2
                exit 1
            fi
        fi
    done
fi
(
    umask 077
    "$PY" -c '
import json, sys, time
keys = ("account_id", "user_id", "token", "database_url", "password")
data = dict(zip(keys, sys.argv[1:]))
data["users"] = {"admin": "admin@demo.local", "engineer": "engineer@demo.local", "l1": "l1@demo.local",
                 "operator": "ops@demo.local"}
data["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
print(json.dumps(data))
' "$account_id" "$user_id" "$token" "$(fp_mask "$DATABASE_URL")" "$password" >"$DEMO.tmp"
    mv "$DEMO.tmp" "$DEMO"
)
chmod 600 "$DEMO"

# Fail early and clearly if something else already listens on $PORT.
if "$PY" -c 'import socket, sys; s = socket.socket(); s.settimeout(1); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$PORT"; then
    log "ERROR: something is already listening on 127.0.0.1:$PORT; stop it or run: PORT=8001 make run"
    exit 1
fi

auth="-H 'Authorization: Bearer $token'"
cat <<EOF

================================================================================
 FlowPilot dev stack -> $BASE_URL   (Ctrl-C stops web, worker, batch and clock)

 Open $BASE_URL/app and sign in (password for all: $password)
   engineer  engineer@demo.local     sessions with the assistant, resolve and escalate, L1's escalations
   admin     admin@demo.local        same, plus account setup at $BASE_URL/app/admin (ConnectWise, flows, people)
   l1        l1@demo.local           L1 workspace: take calls, walk flows (set up flows as admin first)
   operator  ops@demo.local          operations console at $BASE_URL/ops

   Postgres: $(fp_mask "$DATABASE_URL")
   Redis:    $(fp_mask "$REDIS_URL")  namespace "$FLOWPILOT_REDIS_NAMESPACE"
   LLM:      $([[ -n "${ANTHROPIC_API_KEY:-}" ]] && echo "Anthropic API" || echo "offline generator (ANTHROPIC_API_KEY unset)")
 Demo account "Demo MSP": $account_id
 Admin admin@demo.local:  $user_id
 Admin token:             $token
   (kept in .run/demo.json; private Postgres/Redis, if started, stop with: make stop)
================================================================================

# 1) submit a system.echo job (prints the 202 response, keeps the job id in \$JOB_ID)
JOB_ID=\$(curl -s -X POST $BASE_URL/api/v1/jobs $auth -H 'Content-Type: application/json' -d '{"kind": "system.echo", "payload": {"hello": "world"}}' | tee /dev/stderr | python3 -c 'import json, sys; print(json.load(sys.stdin)["job"]["id"])'); echo; echo "JOB_ID=\$JOB_ID"

# 2) long-poll the job until it changes (up to 10 s)
curl -s "$BASE_URL/api/v1/jobs/\$JOB_ID?wait=10" $auth; echo

# 3) start an AI troubleshooting session (keeps its id in \$SESSION_ID)
SESSION_ID=\$(curl -s -X POST $BASE_URL/api/v1/ai-sessions $auth -H 'Content-Type: application/json' -d '{"intake_type": "free_text", "intake_content": {"problem": "Outlook keeps asking for a password"}}' | tee /dev/stderr | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'); echo; echo "SESSION_ID=\$SESSION_ID"

# 4) talk to the assistant (README "The assistant"): post a message, then long-poll its reply job
REPLY_JOB=\$(curl -s -X POST $BASE_URL/api/v1/ai-sessions/\$SESSION_ID/messages $auth -H 'Content-Type: application/json' -d '{"content": "It started after the password change yesterday"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["job"]["id"])')
curl -s "$BASE_URL/api/v1/jobs/\$REPLY_JOB?wait=10" $auth; echo; curl -s "$BASE_URL/api/v1/ai-sessions/\$SESSION_ID/messages" $auth; echo

EOF

log "starting honcho (Procfile: web, worker, batch, clock)"
exec honcho start -f "$ROOT/Procfile" -d "$ROOT"
