"""Admin CLI (`flask --app web …`): accounts, users, operators, migrations, the sweeper."""
from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from db.engine import SYSTEM, transaction
from db.models import Account, ApiToken, PsaConnection, User
from db.models.accounts import ROLES
from shared import people
from shared.jobs.sweeper import run_forever, sweep_once
from shared.security.crypto import CredentialDecryptError
from shared.security.passwords import WeakPassword, check_strength
from web.cli_flows import flows_cli
from web.cli_ops import batch_cli, ops_cli
from web.revocation import announce_revocation
from web.state import state


def _emit(data: dict[str, Any], as_json: bool, human: str) -> None:
    click.echo(json.dumps(data) if as_json else human)


def _issue_token(db: Any, user: User) -> str:
    token, _ = people.issue_token(db, user)
    return token


def _read_password() -> str:
    """The password from stdin (first line; a trailing newline is not part of it). Never echoed or logged."""
    stream = sys.stdin
    if stream.isatty():
        password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = stream.readline().rstrip("\r\n")
    try:
        check_strength(password)
    except WeakPassword as exc:
        raise click.ClickException(str(exc)) from None
    return password


def _email_taken(exc: IntegrityError) -> click.ClickException:
    if "uq_users_login_email" in str(exc.orig):
        return click.ClickException("another user already signs in with this email")
    return click.ClickException("a user with this email already exists in this account")


accounts = AppGroup("accounts", help="Tenant accounts.")
users = AppGroup("users", help="Tenant users and their API tokens.")
operators = AppGroup("operators", help="Platform operators (ops endpoints across tenants).")
dbcli = AppGroup("db", help="Database schema.")
jobs = AppGroup("jobs", help="Job maintenance.")


@accounts.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def accounts_create(name: str, as_json: bool) -> None:
    with transaction(state().engine, SYSTEM) as db:
        account = Account(id=uuid.uuid4(), name=name)
        db.add(account)
    _emit({"account_id": str(account.id)}, as_json, f"account {account.id} created")


def _create_user(what: str, as_json: bool, password_stdin: bool, **fields: Any) -> None:
    """Create a user or operator with a first token (and a sign-in password read from stdin, if asked)."""
    password = _read_password() if password_stdin else None
    try:
        with transaction(state().engine, SYSTEM) as db:
            account_id = fields["account_id"]
            if account_id is not None and db.get(Account, account_id) is None:
                raise click.ClickException(f"no account {account_id}")
            user = User(id=uuid.uuid4(), **fields)
            db.add(user)
            db.flush()
            if password is not None:
                people.set_password(db, user, password)
            token = _issue_token(db, user)
    except IntegrityError as exc:
        raise _email_taken(exc) from None
    _emit({"user_id": str(user.id), "token": token}, as_json, f"{what} {user.id} created; token (shown once): {token}")


@users.command("create")
@click.option("--account-id", required=True, type=click.UUID)
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, help="read a sign-in password from stdin (one line)")
@click.option("--json", "as_json", is_flag=True)
def users_create(account_id: uuid.UUID, email: str, role: str, password_stdin: bool, as_json: bool) -> None:
    _create_user("user", as_json, password_stdin, account_id=account_id, email=email, role=role, is_operator=False)


@users.command("token")
@click.option("--user-id", required=True, type=click.UUID)
@click.option("--expires-in-days", type=click.IntRange(1, 3650), help="the token stops working after this many days")
@click.option("--json", "as_json", is_flag=True)
def users_token(user_id: uuid.UUID, expires_in_days: int | None, as_json: bool) -> None:
    """Issue another API token for a user (shown once), optionally with an expiry."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with transaction(state().engine, SYSTEM) as db:
        user = db.get(User, user_id)
        if user is None:
            raise click.ClickException(f"no user {user_id}")
        token, row = people.issue_token(db, user, expires_at=expires_at)
    _emit({"user_id": str(user_id), "token": token, "token_id": str(row.id),
           "expires_at": expires_at.isoformat() if expires_at else None}, as_json, f"token (shown once): {token}")


@users.command("set-password")
@click.option("--email", required=True)
@click.option("--account-id", type=click.UUID, help="only needed when several users share the email")
@click.option("--json", "as_json", is_flag=True)
def users_set_password(email: str, account_id: uuid.UUID | None, as_json: bool) -> None:
    """Set the sign-in password of a user or operator, read from stdin; ends that user's sign-ins."""
    password = _read_password()
    try:
        with transaction(state().engine, SYSTEM) as db:
            found = people.find_users_by_email(db, email, account_id)
            if not found:
                raise click.ClickException(f"no user with email {email}")
            if len(found) > 1:
                raise click.ClickException(f"{len(found)} users have this email; name one with --account-id")
            user = found[0]
            revoked = people.set_password(db, user, password)
    except IntegrityError as exc:
        raise _email_taken(exc) from None
    warning = announce_revocation() if revoked else None
    if warning:
        click.echo(f"warning: {warning}", err=True)
    _emit({"user_id": str(user.id), "login_tokens_revoked": revoked}, as_json,
          f"password set for {email}; {revoked} sign-in(s) ended")


@users.command("revoke-token")
@click.argument("token_prefix")
@click.option("--json", "as_json", is_flag=True)
def users_revoke(token_prefix: str, as_json: bool) -> None:
    """Revoke every token whose display prefix matches (first 10 characters)."""
    with transaction(state().engine, SYSTEM) as db:
        count = len(
            db.execute(
                update(ApiToken)
                .where(ApiToken.prefix == token_prefix[:10], ApiToken.revoked_at.is_(None))
                .values(revoked_at=func.now())
                .returning(ApiToken.id)
            ).all()
        )
    warning = announce_revocation() if count else None
    if warning:
        click.echo(f"warning: {warning}", err=True)
    _emit({"revoked": count}, as_json, f"{count} token(s) revoked")


@operators.command("create")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="read a sign-in password from stdin (one line)")
@click.option("--json", "as_json", is_flag=True)
def operators_create(email: str, password_stdin: bool, as_json: bool) -> None:
    _create_user("operator", as_json, password_stdin, account_id=None, email=email, role=None, is_operator=True)


@dbcli.command("upgrade")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    from db.migrate import upgrade  # Alembic is imported only here, not by every web process at boot

    upgrade(state().settings, revision)
    click.echo(f"database at {revision}")


@jobs.command("sweep")
@click.option("--loop", is_flag=True, help="keep sweeping every FLOWPILOT_SWEEP_INTERVAL_S")
@click.option("--json", "as_json", is_flag=True)
def jobs_sweep(loop: bool, as_json: bool) -> None:
    st = state()
    s = st.settings

    def sweep() -> Any:
        return sweep_once(
            st.engine,
            st.dispatcher,
            st.redis,
            st.namespace,
            stale_after_s=s.flowpilot_stale_heartbeat_s,
            redispatch_after_s=s.flowpilot_redispatch_after_s,
            backoff_s=s.flowpilot_backoff_base_s,
            backoff_max_s=s.flowpilot_backoff_max_s,
        )

    if loop:
        click.echo(f"sweeping every {s.flowpilot_sweep_interval_s}s (Ctrl-C to stop)")
        run_forever(s.flowpilot_sweep_interval_s, sweep)
        return
    report = sweep()
    data = {"rescued": report.rescued, "failed": report.failed, "redispatched": report.redispatched}
    _emit(data, as_json, ", ".join(f"{k}={v}" for k, v in data.items()))


psa = AppGroup("psa", help="PSA connections.")


@psa.command("rotate-keys")
@click.option("--json", "as_json", is_flag=True)
def psa_rotate_keys(as_json: bool) -> None:
    """Re-encrypt every PSA credential under the first FLOWPILOT_SECRET_KEYS key.

    Rotation: put the new key first, run this, then drop the old key from the list.
    """
    st = state()
    if st.cipher is None:
        raise click.ClickException("FLOWPILOT_SECRET_KEYS is not set")
    rotated, unreadable = 0, []
    with transaction(st.engine, SYSTEM) as db:
        for conn in db.execute(select(PsaConnection).with_for_update()).scalars():
            try:
                conn.credentials = st.cipher.rotate(conn.account_id, conn.credentials)
                rotated += 1
            except CredentialDecryptError:
                unreadable.append(str(conn.id))
    _emit({"rotated": rotated, "unreadable": unreadable}, as_json,
          f"{rotated} connection(s) re-encrypted; unreadable: {', '.join(unreadable) or 'none'}")


def init_app(app: Flask) -> None:
    for group in (accounts, users, operators, dbcli, jobs, psa):
        app.cli.add_command(group)
    app.cli.add_command(flows_cli)
    app.cli.add_command(ops_cli)
    app.cli.add_command(batch_cli)
