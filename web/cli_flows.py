"""`flask --app web flows import FILE.json`: bulk-load L1 flows (and optional categories) into one account.

The file format and the rules are shared/l1/flow_import.py's (the admin page imports through the API the
same way). All or nothing: any invalid flow aborts the import with every error listed. Runs in the system
scope, so every row gets its account_id explicitly.
"""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import click
from flask.cli import AppGroup

from db.engine import SYSTEM, transaction
from db.models import Account
from shared.errors import Invalid
from shared.l1.flow_import import FlowImport, apply_import, parse_import
from web.state import state

flows_cli = AppGroup("flows", help="L1 troubleshooting flows.")

MAX_FILE_BYTES = 20 * 1024 * 1024


def _load(path: Path) -> FlowImport:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise click.ClickException(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from None
    try:
        return parse_import(data)
    except Invalid as exc:
        lines = [f"{e.get('field')}: {e.get('message')}" for e in exc.errors or []]
        raise click.ClickException(f"{exc.detail}:\n  " + "\n  ".join(lines)) from None


@flows_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account-id", type=click.UUID, help="target account (else the file's account_id)")
@click.option("--publish", is_flag=True, help="publish the flows (default: drafts)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def import_flows(file: Path, account_id: uuid.UUID | None, publish: bool, as_json: bool) -> None:
    imp = _load(file)
    target = account_id or imp.account_id
    if target is None:
        raise click.ClickException("--account-id is required (or an account_id in the file)")
    with transaction(state().engine, SYSTEM) as db:
        if db.get(Account, target) is None:
            raise click.ClickException(f"no account {target}")
        imported = [{"id": str(f.id), "title": f.title, "category": f.category, "status": f.status}
                    for f in apply_import(db, target, imp, publish=publish, created_by=None)]
    result = {"account_id": str(target), "count": len(imported), "flows": imported}
    if as_json:
        click.echo(json.dumps(result))
    else:
        state_word = "published" if publish else "draft"
        click.echo(f"{len(imported)} flow(s) imported into account {target} ({state_word})")
        for item in imported:
            click.echo(f"  {item['id']}  [{item['category']}] {item['title']}")
