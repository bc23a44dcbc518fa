"""`flask --app web flows import FILE.json`: bulk-load L1 flows (and optional categories) into one account.

The file holds one flow object (shared/l1/flows.py), a list of them, or
`{"account_id"?: "...", "categories"?: [{"name", "enabled", "keywords"?, "description"?}], "flows": [...]}`.
All or nothing: any invalid flow aborts the import with every error listed. Runs in the system scope,
so every row gets its account_id explicitly.
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from pydantic import ValidationError

from db.engine import SYSTEM, transaction
from db.models import Account
from shared.l1 import categories, flows
from shared.l1.flows import FlowDefinition
from web.state import state

flows_cli = AppGroup("flows", help="L1 troubleshooting flows.")

MAX_FILE_BYTES = 20 * 1024 * 1024


def _load(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise click.ClickException(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from None
    if isinstance(data, list):
        return {"flows": data}
    if isinstance(data, dict) and "flows" not in data and "nodes" in data:
        return {"flows": [data]}
    if not isinstance(data, dict) or not isinstance(data.get("flows"), list):
        raise click.ClickException("expected a flow, a list of flows, or an object with a 'flows' list")
    return data


def _problems(prefix: str, errors: list[dict[str, Any]]) -> list[str]:
    return [f"{prefix}.{e.get('field')}: {e.get('message')}" for e in errors]


def _definitions(raw: list[Any]) -> list[FlowDefinition]:
    defs, problems = [], []
    for i, item in enumerate(raw):
        try:
            defn = FlowDefinition.model_validate(item)
        except ValidationError as exc:
            problems += [f"flows.{i}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
            continue
        problems += _problems(f"flows.{i}", flows.tree_errors(defn))
        defs.append(defn)
    if problems:
        raise click.ClickException("nothing imported; invalid flows:\n  " + "\n  ".join(problems))
    return defs


@flows_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account-id", type=click.UUID, help="target account (else the file's account_id)")
@click.option("--publish", is_flag=True, help="publish the flows (default: drafts)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def import_flows(file: Path, account_id: uuid.UUID | None, publish: bool, as_json: bool) -> None:
    data = _load(file)
    target = account_id or (uuid.UUID(str(data["account_id"])) if data.get("account_id") else None)
    if target is None:
        raise click.ClickException("--account-id is required (or an account_id in the file)")
    defs = _definitions(data["flows"])
    imported = []
    with transaction(state().engine, SYSTEM) as db:
        if db.get(Account, target) is None:
            raise click.ClickException(f"no account {target}")
        for cat in data.get("categories") or []:
            if not isinstance(cat, dict) or not isinstance(cat.get("name"), str):
                raise click.ClickException("each category needs a name")
            name = cat["name"].strip().lower()
            if not re.fullmatch(categories.CATEGORY_PATTERN, name):
                raise click.ClickException(f"category name {name!r} must match {categories.CATEGORY_PATTERN}")
            categories.upsert(db, target, name, enabled=bool(cat.get("enabled", True)),
                              keywords=cat.get("keywords"), description=cat.get("description"))
        for defn in defs:
            flow = flows.create_flow(db, target, defn, created_by=None, publish=publish)  # validated above
            imported.append({"id": str(flow.id), "title": flow.title, "category": flow.category,
                             "status": flow.status})
    result = {"account_id": str(target), "count": len(imported), "flows": imported}
    if as_json:
        click.echo(json.dumps(result))
    else:
        state_word = "published" if publish else "draft"
        click.echo(f"{len(imported)} flow(s) imported into account {target} ({state_word})")
        for item in imported:
            click.echo(f"  {item['id']}  [{item['category']}] {item['title']}")
