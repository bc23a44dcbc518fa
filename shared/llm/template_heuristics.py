"""Deterministic parameterization of a one-off script: session-specific values become named parameters.

Used by the offline generator (and as a fallback shape check for LLM proposals). Order of detection
matters: GUIDs before IPs, UNC/Windows paths before host names, DOMAIN\\user before bare names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = [
    ("guid", "A GUID identifying the object", re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b")),
    ("email", "An e-mail address / UPN", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")),
    ("unc_path", "A UNC share path", re.compile(r"\\\\[A-Za-z0-9._$-]+(?:\\[^\s'\"`;|]+)+")),
    ("path", "A local file or folder path", re.compile(r"\b[A-Za-z]:\\(?:[^\s'\"`;|\\]+\\?)*[^\s'\"`;|]*")),
    ("ip_address", "An IPv4 address", re.compile(r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b")),
    ("user_name", "A DOMAIN\\user account", re.compile(r"\b[A-Za-z][A-Za-z0-9-]{1,14}\\[A-Za-z][A-Za-z0-9._-]{1,63}\b")),
    ("hostname", "A fully qualified host name", re.compile(r"\b(?:[A-Za-z0-9-]{1,63}\.)+(?:local|lan|corp|internal|com|net|org|io|co\.uk)\b")),
    ("computer_name", "A computer name", re.compile(r"\b[A-Z][A-Z0-9]{1,6}-[A-Z0-9-]{1,12}\b")),
]
# Values that follow these switches are identities worth parameterizing even without a shape.
_SWITCH = re.compile(r"-(Identity|UserName|User|SamAccountName|ComputerName|Server)\s+['\"]?([A-Za-z0-9._-]{2,64})['\"]?")
_SWITCH_KIND = {"identity": "user_name", "username": "user_name", "user": "user_name",
                "samaccountname": "user_name", "computername": "computer_name", "server": "computer_name"}
_DESCRIPTIONS = {kind: desc for kind, desc, _ in _PATTERNS}


@dataclass
class TemplateProposal:
    templated_body: str
    parameters: list[dict[str, Any]] = field(default_factory=list)


def extract_parameters(script: str, facts: list[str] | None = None) -> TemplateProposal:
    """Replace each distinct session-specific value with `{{name}}`; names are stable and ordered."""
    found: dict[str, tuple[str, int]] = {}  # value -> (kind, first position)
    taken: list[tuple[int, int]] = []

    def overlaps(start: int, end: int) -> bool:
        return any(start < e and s < end for s, e in taken)

    for kind, _, pattern in _PATTERNS:
        for m in pattern.finditer(script):
            if overlaps(m.start(), m.end()):
                continue
            taken.append((m.start(), m.end()))
            found.setdefault(m.group(0), (kind, m.start()))
    for m in _SWITCH.finditer(script):
        value = m.group(2)
        if value not in found and not overlaps(m.start(2), m.end(2)):
            found[value] = (_SWITCH_KIND[m.group(1).lower()], m.start(2))
            taken.append((m.start(2), m.end(2)))
    fact_text = "\n".join(facts or [])
    ordered = sorted(found.items(), key=lambda item: item[1][1])
    counts: dict[str, int] = {}
    names: dict[str, str] = {}
    parameters = []
    for value, (kind, _) in ordered:
        counts[kind] = counts.get(kind, 0) + 1
        name = kind if counts[kind] == 1 else f"{kind}_{counts[kind]}"
        names[value] = name
        parameters.append(
            {
                "name": name,
                "kind": kind,
                "description": _DESCRIPTIONS.get(kind, "A session-specific value"),
                "default": value,
                "seen_in_facts": value in fact_text,
            }
        )
    body = script
    for value in sorted(names, key=len, reverse=True):  # longest first so substrings don't clobber
        body = body.replace(value, "{{" + names[value] + "}}")
    return TemplateProposal(templated_body=body, parameters=parameters)
