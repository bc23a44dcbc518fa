"""Operator and batch CLI: `flask --app web ops …` and `flask --app web batch …` (system scope)."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

import click
from flask.cli import AppGroup

from db.engine import SYSTEM, transaction
from shared import batches, ops
from shared.errors import DomainError
from shared.jobs.serialize import job_to_dict
from shared.jobs.service import JobRef
from web.state import state

ops_cli = AppGroup("ops", help="Inspect queues and jobs across tenants; retry, cancel, dead letters.")
batch_cli = AppGroup("batch", help="Create and follow batches.")


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _out(data: Any, as_json: bool, human: str) -> None:
    click.echo(json.dumps(data, default=str) if as_json else human)


def _filter(status: str | None, kind: str | None, account_id: uuid.UUID | None,
            ids: tuple[str, ...] = ()) -> ops.JobFilter:
    return ops.JobFilter(status=status, kind=kind, account_id=account_id,
                         ids=[uuid.UUID(i) for i in ids] or None)


@ops_cli.command("queues")
@click.option("--json", "as_json", is_flag=True)
def queues(as_json: bool) -> None:
    st = state()
    with transaction(st.engine, SYSTEM) as db:
        data: dict[str, Any] = {"queues": ops.queue_stats(st.redis, st.namespace), "jobs": ops.job_counts(db),
                "workers": ops.workers_seen(st.redis, st.namespace)}
    human = _table(data["queues"], ["name", "ready", "delayed", "in_flight", "dead", "oldest_ready_age_s"])
    human += "\n\njobs by status: " + ", ".join(f"{k}={v}" for k, v in sorted(data["jobs"]["by_status"].items()))
    human += f"\nworkers seen: {len(data['workers'])}"
    _out(data, as_json, human)


@ops_cli.command("jobs")
@click.option("--status")
@click.option("--kind")
@click.option("--account-id", type=click.UUID)
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def jobs(status: str | None, kind: str | None, account_id: uuid.UUID | None, limit: int, as_json: bool) -> None:
    with transaction(state().engine, SYSTEM) as db:
        rows, cursor = ops.list_jobs(db, _filter(status, kind, account_id), None, limit)
        items = [{**job_to_dict(j), "account_id": str(j.account_id) if j.account_id else None} for j in rows]
    for item in items:
        item["error_code"] = (item["error"] or {}).get("code")
    _out({"items": items, "next_cursor": cursor}, as_json,
         _table(items, ["id", "kind", "status", "attempts", "error_code", "created_at"]))


def _bulk(action: str, status: str | None, kind: str | None, account_id: uuid.UUID | None,
          ids: tuple[str, ...], as_json: bool) -> None:
    st = state()
    try:
        with transaction(st.engine, SYSTEM) as db:
            done, skipped = ops.bulk(db, _filter(status, kind, account_id, ids), action, via="cli")
            refs = [JobRef.of(j) for j in done]
    except DomainError as err:
        raise click.ClickException(err.detail) from None
    if action == "retry":
        st.dispatcher.deliver(st.engine, refs)
    _out({"affected": len(done), "skipped": skipped}, as_json, f"{action}: {len(done)} job(s), {len(skipped)} skipped")


def _bulk_command(action: str, help_text: str, status_help: str | None) -> None:
    """`ops retry` and `ops cancel`: the same options, one action each."""

    @ops_cli.command(action, help=help_text)
    @click.argument("ids", nargs=-1)
    @click.option("--status", default=None, help=status_help)
    @click.option("--kind")
    @click.option("--account-id", type=click.UUID)
    @click.option("--json", "as_json", is_flag=True)
    def command(ids: tuple[str, ...], status: str | None, kind: str | None, account_id: uuid.UUID | None,
                as_json: bool) -> None:
        _bulk(action, status, kind, account_id, ids, as_json)


_bulk_command("retry", "Retry failed jobs: the given IDS, or every failed job matching the filters.",
              "filter (retry applies to failed jobs)")
_bulk_command("cancel", "Cancel queued/retrying jobs: the given IDS, or every one matching the filters.", None)


@ops_cli.command("dead-letters")
@click.option("--requeue", is_flag=True, help="requeue through the job rows, then drop the dead messages")
@click.option("--purge", is_flag=True, help="drop every dead message")
@click.option("--json", "as_json", is_flag=True)
def dead_letters(requeue: bool, purge: bool, as_json: bool) -> None:
    st = state()
    if requeue:
        with transaction(st.engine, SYSTEM) as db:
            refs, message_ids = ops.requeue_dead_letters(db, st.redis, st.namespace)
        st.dispatcher.deliver(st.engine, refs)
        ops.purge_dead_letters(st.redis, st.namespace, message_ids)
        _out({"requeued": len(refs), "removed": len(message_ids)}, as_json, f"requeued {len(refs)}, removed {len(message_ids)}")
        return
    if purge:
        removed = ops.purge_dead_letters(st.redis, st.namespace)
        _out({"removed": removed}, as_json, f"removed {removed}")
        return
    items = ops.dead_letters(st.redis, st.namespace)
    _out({"items": items}, as_json, _table(items, ["queue", "message_id", "actor", "job_id", "dead_since"]))


@batch_cli.command("create")
@click.option("--account-id", type=click.UUID, required=True)
@click.option("--action", type=click.Choice(batches.ACTIONS), required=True)
@click.option("--status", help="only sessions in this status")
@click.option("--session-id", "session_ids", multiple=True)
@click.option("--detach", is_flag=True, help="print the batch and return at once")
@click.option("--json", "as_json", is_flag=True)
def batch_create(account_id: uuid.UUID, action: str, status: str | None, session_ids: tuple[str, ...],
                 detach: bool, as_json: bool) -> None:
    st = state()
    flt: dict[str, Any] = {}
    if status:
        flt["status"] = status
    if session_ids:
        flt["session_ids"] = list(session_ids)
    with transaction(st.engine, SYSTEM) as db:
        batch, job = batches.create_batch(db, account_id=account_id, action=action, flt=flt, user_id=None)
        batch_id = batch.id
    st.dispatcher.deliver(st.engine, [JobRef.of(job)])
    if detach:
        with transaction(st.engine, SYSTEM) as db:
            _out(batches.batch_to_dict(db, batches.get_batch(db, batch_id)), as_json, f"batch {batch_id} started")
        return
    _follow(batch_id, as_json)


@batch_cli.command("show")
@click.argument("batch_id", type=click.UUID)
@click.option("--follow", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def batch_show(batch_id: uuid.UUID, follow: bool, as_json: bool) -> None:
    if follow:
        _follow(batch_id, as_json)
        return
    with transaction(state().engine, SYSTEM) as db:
        data = batches.batch_to_dict(db, batches.get_batch(db, batch_id))
    _out(data, as_json, json.dumps(data, indent=2, default=str))


@batch_cli.command("cancel")
@click.argument("batch_id", type=click.UUID)
@click.option("--json", "as_json", is_flag=True)
def batch_cancel(batch_id: uuid.UUID, as_json: bool) -> None:
    with transaction(state().engine, SYSTEM) as db:
        batch = batches.get_batch(db, batch_id, for_update=True)
        batches.cancel_batch(db, batch)
        db.flush()
        data = batches.batch_to_dict(db, batch)
    _out(data, as_json, f"batch {batch_id} cancelled; {data['cancelled']} queued children stopped")


def _follow(batch_id: uuid.UUID, as_json: bool) -> None:
    """A live progress bar until the batch is done (Ctrl-C leaves it running)."""
    st = state()
    last: dict[str, Any] = {}
    with click.progressbar(length=1, label=f"batch {batch_id}", show_pos=True) as bar:
        while True:
            with transaction(st.engine, SYSTEM) as db:
                batches.finish_batches(db)  # what the clock does, so following works without it
                last = batches.batch_to_dict(db, batches.get_batch(db, batch_id))
            done = last["succeeded"] + last["failed"] + last["cancelled"]
            bar.length = max(1, last["total"])
            bar.update(done - bar.pos)
            if last["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
    _out(last, as_json, f"{last['status']}: {last['succeeded']} succeeded, {last['failed']} failed, "
                        f"{last['cancelled']} cancelled of {last['total']}")
