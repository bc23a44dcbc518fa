"""L1 AI build, offline: deterministic question banks per problem family (no network), walked in order."""
from __future__ import annotations

from typing import Any

from shared.l1.text import terms
from shared.llm.next_node import NextNodeContext

_Q = tuple[str, tuple[tuple[str, str], ...]]
_BANKS: dict[str, tuple[_Q, ...]] = {
    "network": (
        ("Is the device connected to the network (cable plugged in, or Wi-Fi showing connected)?",
         (("Connected", "next"), ("Was disconnected; reconnecting fixed it", "resolve"), ("Cannot connect at all", "next"))),
        ("Can the device open a public website such as https://example.com?", (("Yes", "next"), ("No", "next"))),
        ("Do other devices at the same location have the same problem?",
         (("Only this device", "next"), ("Several devices", "escalate"))),
        ("Does restarting the device's network adapter (or the device) fix it?", (("Yes", "resolve"), ("No", "escalate"))),
    ),
    "email": (
        ("Does webmail (Outlook on the web) work for the same mailbox?",
         (("Yes, webmail works", "next"), ("No, webmail fails too", "escalate"))),
        ("Has the user changed their password recently?", (("Yes", "next"), ("No", "next"))),
        ("Does closing the mail app, removing saved credentials in Credential Manager and reopening fix it?",
         (("Yes", "resolve"), ("No", "next"))),
        ("Does the mail app work when started in safe mode (outlook.exe /safe)?",
         (("Yes, only in safe mode", "escalate"), ("No", "escalate"))),
    ),
    "printing": (
        ("Is the printer powered on and showing ready (no error on its display)?",
         (("Ready", "next"), ("Showing an error", "next"), ("Off; turning it on fixed it", "resolve"))),
        ("Can another user print to the same printer?", (("Yes", "next"), ("No", "escalate"))),
        ("Does clearing the print queue and restarting the Print Spooler service fix it?",
         (("Yes", "resolve"), ("No", "next"))),
        ("Does removing and re-adding the printer on this computer fix it?", (("Yes", "resolve"), ("No", "escalate"))),
    ),
    "account": (
        ("Is the account locked out, or has the password expired?",
         (("Locked out", "next"), ("Password expired", "next"), ("Neither", "next"))),
        ("Did unlocking the account or a policy-compliant password reset fix sign-in?",
         (("Yes", "resolve"), ("No", "next"), ("Not allowed for L1", "escalate"))),
        ("Does the multi-factor prompt arrive on the user's registered device?",
         (("Yes, and it is approved", "next"), ("No prompt arrives", "escalate"))),
    ),
    "hardware": (
        ("Are all cables and power connections firmly seated?",
         (("Yes", "next"), ("Reseating a cable fixed it", "resolve"))),
        ("Does the device work when connected to another port or computer?",
         (("Yes", "next"), ("No, it fails there too", "escalate"))),
        ("Does a full restart (shut down, wait 30 seconds, start) fix it?", (("Yes", "resolve"), ("No", "escalate"))),
    ),
    "general": (
        ("Can the customer reproduce the problem right now?",
         (("Yes, every time", "next"), ("Only sometimes", "next"), ("No, it has stopped", "resolve"))),
        ("Has the device been restarted since the problem started?",
         (("Restarted, problem persists", "next"), ("Restarting fixed it", "resolve"), ("Cannot restart now", "escalate"))),
        ("Are other users or devices affected?", (("Only this user", "next"), ("Several users", "escalate"))),
        ("Did anything change recently (updates, new software, a password change)?",
         (("Yes, and undoing it fixed it", "resolve"), ("Yes, undoing it did not help", "next"), ("Nothing changed", "next"))),
    ),
}
_FAMILY_TERMS = {
    "network": {"network", "wifi", "wi", "vpn", "internet", "connect", "dns", "ethernet", "rout", "offlin"},
    "email": {"email", "mail", "outlook", "exchang", "mailbox", "inbox", "calendar"},
    "printing": {"print", "scan", "spool", "copi"},
    "account": {"account", "password", "login", "log", "sign", "mfa", "lock", "credential", "passwd"},
    "hardware": {"monitor", "keyboard", "mous", "laptop", "dock", "screen", "hardwar", "headset", "battery"},
}
_FINAL: _Q = ("Have the steps so far resolved the problem?", (("Yes", "resolve"), ("No", "escalate")))


def family(category: str, problem: str) -> str:
    """The question bank for a category (by its name first, then by the problem's words)."""
    for text in (category.replace("-", " ").replace("_", " "), problem):
        found = set(terms(text))
        for name, vocabulary in _FAMILY_TERMS.items():
            if found & vocabulary:
                return name
    return "general"


def offline_next_node(context: NextNodeContext) -> dict[str, Any]:
    """The next unasked question of the category's bank, then a closing resolve-or-escalate question."""
    asked = {entry.get("question") for entry in context.path}
    bank = (*_BANKS[family(context.category, context.problem)], _FINAL)
    question, answers = next((q for q in bank if q[0] not in asked), _FINAL)
    return {"question": question, "answers": [{"label": label, "leads_to": to} for label, to in answers]}
