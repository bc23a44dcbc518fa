"""Fixture flows for the L1 tests and the helpers that publish them and run intakes."""
from __future__ import annotations

import copy
from typing import Any


def _ask(node_id: str, text: str, *answers: tuple[str, str]) -> dict[str, Any]:
    return {"id": node_id, "type": "question", "text": text,
            "answers": [{"label": label, "next": nxt} for label, nxt in answers]}


def _end(node_id: str, kind: str, text: str) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "text": text}


def _flow(title: str, category: str, keywords: list[str], *nodes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"title": title, "category": category, "keywords": keywords, **extra, "nodes": list(nodes)}


OUTLOOK = _flow(
    "Outlook keeps asking for a password", "email", ["outlook", "password prompt", "credentials"],
    _ask("q1", "Does Outlook on the web accept the same password?", ("Yes", "q2"), ("No", "esc_account")),
    _ask("q2", "Does removing the saved Office entries in Credential Manager stop the prompts?",
         ("Yes", "fix"), ("No", "esc_mail")),
    _end("fix", "resolve", "Cached credentials were stale; prompts stopped after clearing them."),
    _end("esc_account", "escalate", "Account-level sign-in problem: hand to the identity team."),
    _end("esc_mail", "escalate", "Mailbox-side problem: hand to the messaging team."))
VPN = _flow(
    "VPN disconnects every few minutes", "network", ["vpn", "tunnel", "disconnect"],
    _ask("v1", "Does the tunnel drop on wired Ethernet as well as Wi-Fi?", ("Only on Wi-Fi", "v_fix"), ("Both", "v_esc")),
    _end("v_fix", "resolve", "Disable Wi-Fi power saving on the adapter."),
    _end("v_esc", "escalate", "Gateway-side drop: escalate to network engineering."), start="v1")
PRINTER = _flow(
    "Printer not printing", "printing", ["printer", "print queue", "spooler"],
    _ask("p1", "Is the printer showing ready?", ("Yes", "p_fix"), ("No", "p_esc")),
    _end("p_fix", "resolve", "Restart the Print Spooler service and clear the queue."),
    _end("p_esc", "escalate", "Hardware fault: book an on-site visit."))
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
