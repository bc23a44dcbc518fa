"""The ops console page itself (no browser): static HTML, a strict CSP, no token and no data in it."""
from __future__ import annotations

import uuid

from db.engine import SYSTEM, transaction
from db.models import Batch, Job


def test_console_page_is_static_html_with_strict_csp(client, operator):
    resp = client.get("/ops")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["X-Frame-Options"] == "DENY"
    html = resp.get_data(as_text=True)
    assert 'id="login-form"' in html and "/ops/static/ops.js" in html and "/ops/static/ops.css" in html
    assert "<script>" not in html and "<style" not in html and " style=" not in html  # nothing inline
    assert "http://" not in html and "https://" not in html  # no CDN assets
    token = operator["Authorization"].split(" ", 1)[1]
    again = client.get("/ops", headers=operator).get_data(as_text=True)
    assert token not in html and token not in again and "Bearer" not in html
    assert 'name="token"' not in html and 'name="password"' not in html  # no form submit can put them in a URL
    assert 'id="signin-form"' in html
    for asset in ("/ops/static/ops.js", "/ops/static/ops.css"):
        r = client.get(asset)
        assert r.status_code == 200 and r.data
        r.close()


def test_console_script_never_injects_markup(client):
    sources = []
    for asset in ("/ops/static/ops.js", "/ops/static/js/api.js", "/ops/static/ops_job.js", "/ops/static/ops_charts.js",
                  "/ops/static/ops_dom.js"):
        resp = client.get(asset)
        assert resp.status_code == 200
        sources.append(resp.get_data(as_text=True))
        resp.close()
    ops, shared = sources[:2]
    assert 'from "./js/api.js"' in ops  # one API client, shared with the pages
    for js in sources:
        assert "innerHTML" not in js and "outerHTML" not in js and "insertAdjacentHTML" not in js
        assert "document.write" not in js and "eval(" not in js
        assert "localStorage" not in js and "document.cookie" not in js
    assert "sessionStorage" in shared


def test_ops_batches_lists_newest_across_tenants(client, engine, tenant, other_tenant, operator):
    ids = {}
    with transaction(engine, SYSTEM) as db:
        for t, status in ((tenant, "running"), (other_tenant, "succeeded")):
            batch = Batch(id=uuid.uuid4(), account_id=t.account_id, action="regenerate_resolution_note",
                          filter={}, status=status, total=4)
            db.add(batch)
            db.flush()
            for child_status in ("succeeded", "succeeded", "failed"):
                db.add(Job(id=uuid.uuid4(), account_id=t.account_id, kind="preview.resolution_note",
                           queue="batch", status=child_status, batch_id=batch.id))
            ids[status] = str(batch.id)
    assert client.get("/api/v1/ops/batches", headers=tenant.h("owner")).status_code == 403
    items = client.get("/api/v1/ops/batches", headers=operator).get_json()["items"]
    assert {b["id"] for b in items} == set(ids.values())
    running = client.get("/api/v1/ops/batches?status=running", headers=operator).get_json()["items"]
    assert [b["id"] for b in running] == [ids["running"]]
    b = running[0]
    assert (b["total"], b["succeeded"], b["failed"], b["cancelled"], b["pending"]) == (4, 2, 1, 0, 1)
    assert b["account_id"] == str(tenant.account_id)
    assert client.get("/api/v1/ops/batches?status=bogus", headers=operator).status_code == 422
