"""A PSA's Retry-After is obeyed, but never beyond the cap (issue 13, item 9)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.helpers import wait_job


def test_an_infinite_retry_after_from_the_psa_waits_at_most_an_hour(client, tenant, linked, cw_sim, psa_worker):
    cw_sim.inject("POST", "notes", "status429", retry_after="inf")
    r = client.post(f"/api/v1/ai-sessions/{linked['session']['id']}/resolution-note/post",
                    json={"markdown": "Done."}, headers=tenant.h("engineer"))
    waiting = wait_job(client, tenant.h("engineer"), r.get_json()["job"]["id"], until=("retrying",))
    assert waiting["error"]["code"] == "psa_rate_limited"
    due = datetime.fromisoformat(waiting["next_attempt_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < due - datetime.now(UTC) <= timedelta(hours=1, seconds=5)
