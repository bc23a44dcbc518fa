"""Fixture flows for the L1 tests and the helpers that publish them and run intakes."""
from __future__ import annotations

import copy
from typing import Any

OUTLOOK = {
    "title": "Outlook keeps asking for a password",
    "category": "email",
    "keywords": ["outlook", "password prompt", "credentials"],
    "nodes": [
        {"id": "q1", "type": "question", "text": "Does Outlook on the web accept the same password?",
         "answers": [{"label": "Yes", "next": "q2"}, {"label": "No", "next": "esc_account"}]},
        {"id": "q2", "type": "question", "text": "Does removing the saved Office entries in Credential Manager stop the prompts?",
         "answers": [{"label": "Yes", "next": "fix"}, {"label": "No", "next": "esc_mail"}]},
        {"id": "fix", "type": "resolve", "text": "Cached credentials were stale; prompts stopped after clearing them."},
        {"id": "esc_account", "type": "escalate", "text": "Account-level sign-in problem: hand to the identity team."},
        {"id": "esc_mail", "type": "escalate", "text": "Mailbox-side problem: hand to the messaging team."},
    ],
}
VPN = {
    "title": "VPN disconnects every few minutes",
    "category": "network",
    "keywords": ["vpn", "tunnel", "disconnect"],
    "start": "v1",
    "nodes": [
        {"id": "v1", "type": "question", "text": "Does the tunnel drop on wired Ethernet as well as Wi-Fi?",
         "answers": [{"label": "Only on Wi-Fi", "next": "v_fix"}, {"label": "Both", "next": "v_esc"}]},
        {"id": "v_fix", "type": "resolve", "text": "Disable Wi-Fi power saving on the adapter."},
        {"id": "v_esc", "type": "escalate", "text": "Gateway-side drop: escalate to network engineering."},
    ],
}
PRINTER = {
    "title": "Printer not printing",
    "category": "printing",
    "keywords": ["printer", "print queue", "spooler"],
    "nodes": [
        {"id": "p1", "type": "question", "text": "Is the printer showing ready?",
         "answers": [{"label": "Yes", "next": "p_fix"}, {"label": "No", "next": "p_esc"}]},
        {"id": "p_fix", "type": "resolve", "text": "Restart the Print Spooler service and clear the queue."},
        {"id": "p_esc", "type": "escalate", "text": "Hardware fault: book an on-site visit."},
    ],
}
FLOWS = {"outlook": OUTLOOK, "vpn": VPN, "printer": PRINTER}

OUTLOOK_PROBLEM = "Outlook keeps asking for my password"
HARDWARE_PROBLEM = "Second monitor flickers at the docking station"


def flow(name: str = "outlook", **over: Any) -> dict[str, Any]:
    body = copy.deepcopy(FLOWS[name])
    body.update(over)
    return body


def create_flow(client, tenant, body: dict[str, Any], *, publish: bool = True) -> dict[str, Any]:
    resp = client.post("/api/v1/l1/flows", json=body, headers=tenant.h("admin"))
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    if publish:
        resp = client.post(f"/api/v1/l1/flows/{created['id']}/publish", headers=tenant.h("admin"))
        assert resp.status_code == 200, resp.get_json()
        created = resp.get_json()
    return created


def put_category(client, tenant, name: str, **body: Any) -> dict[str, Any]:
    body.setdefault("enabled", True)
    resp = client.put(f"/api/v1/l1/categories/{name}", json=body, headers=tenant.h("admin"))
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def intake(client, tenant, problem: str, role: str = "l1", expect: int | None = None, **extra: Any) -> dict[str, Any]:
    resp = client.post("/api/v1/l1/intake", json={"problem_statement": problem, **extra}, headers=tenant.h(role))
    if expect is not None:
        assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def start_walk(client, tenant, problem: str = OUTLOOK_PROBLEM, role: str = "l1") -> dict[str, Any]:
    body = intake(client, tenant, problem, role=role, expect=201)
    assert body["outcome"] == "matched", body
    return body["session"]


def step(client, tenant, session_id: str, node_id: str, answer: str, role: str = "l1", **extra: Any):
    return client.post(f"/api/v1/l1/sessions/{session_id}/step", json={"node_id": node_id, "answer": answer, **extra},
                       headers=tenant.h(role))
