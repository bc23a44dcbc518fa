"""`flask --app web flows import FILE.json`: bulk import into one account, all or nothing."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from db.engine import SYSTEM, transaction
from db.models import L1Flow
from tests.l1.flowdata import OUTLOOK_PROBLEM, flow, intake


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=["flows", "import", *map(str, args)])


def flow_count(engine) -> int:
    with transaction(engine, SYSTEM) as db:
        return db.execute(select(func.count()).select_from(L1Flow)).scalar_one()


def test_import_publish_then_intake_matches(app, client, tenant, other_tenant, tmp_path):
    path = tmp_path / "flows.json"
    path.write_text(json.dumps({"categories": [{"name": "hardware", "enabled": True, "keywords": ["monitor"]},
                                               {"name": "printing", "enabled": False}],
                                "flows": [flow("outlook"), flow("vpn")]}))
    result = invoke(app, path, "--account-id", tenant.account_id, "--publish", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["account_id"] == str(tenant.account_id) and out["count"] == 2
    assert [(f["title"], f["status"]) for f in out["flows"]] == [(flow("outlook")["title"], "published"),
                                                                 (flow("vpn")["title"], "published")]
    body = intake(client, tenant, OUTLOOK_PROBLEM, expect=201)
    assert body["outcome"] == "matched" and body["match"]["flow_id"] == out["flows"][0]["id"]
    cats = {c["name"]: c["enabled"] for c in client.get("/api/v1/l1/categories", headers=tenant.h("l1")).get_json()["items"]}
    assert cats == {"email": True, "hardware": True, "network": True, "printing": False}
    assert client.get("/api/v1/l1/flows", headers=other_tenant.h("admin")).get_json()["items"] == []  # account_id explicit


def test_import_drafts_from_a_single_flow_with_account_in_file(app, client, tenant, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"account_id": str(tenant.account_id), "flows": [flow("printer")]}))
    result = invoke(app, path)
    assert result.exit_code == 0 and "1 flow(s) imported" in result.output and "(draft)" in result.output
    listed = client.get("/api/v1/l1/flows", headers=tenant.h("admin")).get_json()["items"]
    assert [f["status"] for f in listed] == ["draft"]
    single = tmp_path / "single.json"
    single.write_text(json.dumps(flow("vpn")))
    assert invoke(app, single, "--account-id", tenant.account_id).exit_code == 0


def test_invalid_import_writes_nothing(app, tenant, engine, tmp_path):
    bad = flow("vpn")
    bad["nodes"][0]["answers"][0]["next"] = "missing"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([flow("outlook"), bad, {"title": "no nodes", "category": "x"}]))
    result = invoke(app, path, "--account-id", tenant.account_id, "--publish")
    assert result.exit_code != 0
    assert "flows.1.nodes.0.answers.0.next" in result.output and "flows.2.nodes" in result.output
    assert flow_count(engine) == 0


def test_import_needs_a_known_account_and_json(app, tenant, engine, tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps([flow("outlook")]))
    assert "--account-id is required" in invoke(app, path).output
    missing = invoke(app, path, "--account-id", "00000000-0000-0000-0000-000000000000")
    assert missing.exit_code != 0 and "no account" in missing.output
    garbage = tmp_path / "g.json"
    garbage.write_text("{nope")
    assert "not valid JSON" in invoke(app, garbage, "--account-id", tenant.account_id).output
    assert flow_count(engine) == 0
