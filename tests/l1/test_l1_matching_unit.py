"""Pure units: the stemmer, the scorer, tree validation, match-or-build decisions, the offline node generator."""
from __future__ import annotations

import uuid

import pytest

from db.models import L1Category, L1Flow
from shared.l1.flow_index import FlowIndex
from shared.l1.flows import FlowDefinition, tree_errors, validate
from shared.l1.matching import Thresholds, classify, decide
from shared.l1.scoring import build_doc, rank
from shared.l1.text import stem, terms
from shared.llm.l1_offline import family, offline_next_node
from shared.llm.next_node import NextNodeContext, normalize_node
from tests.l1.flowdata import FLOWS, flow

T = Thresholds(match=0.7, suggest=0.45, category=0.45)


@pytest.mark.parametrize(("words", "expected"), [
    (("printer", "printing", "prints", "print"), "print"),
    (("crash", "crashes", "crashed", "crashing"), "crash"),
    (("drive", "drives"), "driv"),
    (("stopped", "stop", "stops"), "stop"),
    (("connection", "connecting", "connected"), "connect"),
])
def test_stemmer_groups_word_forms(words, expected):
    assert {stem(w) for w in words} == {expected}


def test_terms_drop_stop_words_and_keep_surface_forms():
    assert terms("The user's Printer keeps printing blank pages, can't fix it!") == {
        "print": "printer", "blank": "blank", "pag": "pages", "fix": "fix"}


def test_scores_are_explained_and_ranked_deterministically():
    docs = [build_doc("b", "VPN drops", [("title", "VPN drops"), ("text", "Check the tunnel")]),
            build_doc("a", "VPN slow", [("title", "VPN slow"), ("keyword", "tunnel")])]
    ranked = rank("vpn tunnel", docs)
    assert [r.key for r in ranked] == ["a", "b"]  # a: tunnel is a keyword there, node text in b
    top = ranked[0]
    assert top.matched_terms == ["tunnel", "vpn"] and top.contributions[0] == {"term": "tunnel", "field": "keyword", "weight": 0.5}  # in both docs: halved
    assert 0 < ranked[1].score < top.score < 1
    assert rank("vpn tunnel", docs) == ranked
    assert [r.score for r in rank("printer", docs)] == [0.0, 0.0]


def test_one_distinctive_title_term_suggests_two_match():
    docs = [build_doc("x", "Outlook password prompt", [("title", "Outlook password prompt")])]
    assert T.suggest <= rank("outlook is slow", docs)[0].score < T.match
    assert rank("outlook password again", docs)[0].score >= T.match


def test_tree_validation_rules():
    assert tree_errors(FlowDefinition.model_validate(flow("outlook"))) == []
    tree = validate(FlowDefinition.model_validate(flow("vpn")))
    assert tree["start"] == "v1" and [n["id"] for n in tree["nodes"]] == ["v1", "v_fix", "v_esc"]
    diamond = {"title": "d", "category": "c", "nodes": [
        {"id": "a", "type": "question", "text": "a", "answers": [{"label": "1", "next": "b"}, {"label": "2", "next": "c"}]},
        {"id": "b", "type": "question", "text": "b", "answers": [{"label": "1", "next": "d"}]},
        {"id": "c", "type": "question", "text": "c", "answers": [{"label": "1", "next": "d"}]},
        {"id": "d", "type": "resolve", "text": "d"}]}
    assert tree_errors(FlowDefinition.model_validate(diamond)) == []  # shared children are not cycles
    diamond["nodes"][3] = {"id": "d", "type": "question", "text": "d", "answers": [{"label": "1", "next": "a"}]}
    errors = tree_errors(FlowDefinition.model_validate(diamond))
    assert {"field": "nodes", "message": "at least one resolve or escalate node is required"} in errors
    assert [e["message"] for e in errors if e["message"].startswith("cycle")] == ["cycle: a → b → d → a"]


def _flow(name: str, **over) -> L1Flow:
    body = flow(name, **over)
    return L1Flow(id=uuid.uuid5(uuid.NAMESPACE_DNS, body["title"]), title=body["title"], category=body["category"],
                  keywords=body["keywords"], tree={"start": body["nodes"][0]["id"], "nodes": body["nodes"]},
                  status="published")


def _categories(**enabled: bool) -> list[L1Category]:
    return [L1Category(name=name, enabled=on, keywords=["monitor", "dock"] if name == "hardware" else [])
            for name, on in sorted(enabled.items())]


def test_decide_covers_every_outcome():
    flows = [_flow(name) for name in FLOWS]
    cats = _categories(email=True, network=True, printing=False, hardware=True)
    assert decide("Outlook keeps asking for my password", index=FlowIndex.build(cats, flows), thresholds=T).outcome == "matched"
    assert decide("Outlook is slow today", index=FlowIndex.build(cats, flows), thresholds=T).outcome == "suggest"
    printing = decide("printer not printing", index=FlowIndex.build(cats, flows), thresholds=T)
    assert (printing.outcome, printing.reason, printing.category) == ("out_of_scope", "category_disabled", "printing")
    assert decide("coffee machine leaks", index=FlowIndex.build(cats, flows), thresholds=T).reason == "category_unknown"
    build = decide("my monitor flickers", index=FlowIndex.build(cats, flows), thresholds=T)
    assert (build.outcome, build.category, build.flow) == ("build", "hardware", None)
    forced = decide("Outlook keeps asking for my password", index=FlowIndex.build(cats, flows), thresholds=T, force_build=True)
    assert (forced.outcome, forced.category) == ("build", "email")


def test_classify_uses_category_keywords_and_flow_vocabulary():
    flows = [_flow("vpn")]
    cats = _categories(network=True, hardware=True)
    assert classify("the tunnel keeps dropping", FlowIndex.build(cats, flows), 0.45).key == "network"
    assert classify("dock is dead", FlowIndex.build(cats, flows), 0.45).key == "hardware"
    assert classify("weather is nice", FlowIndex.build(cats, flows), 0.45) is None


def test_offline_next_node_is_deterministic_and_never_repeats():
    ctx = NextNodeContext(problem="monitor flickers", category="hardware")
    first = offline_next_node(ctx)
    assert first == offline_next_node(ctx) and normalize_node(first) == first
    asked = [{"question": first["question"], "answer": "Yes"}]
    second = offline_next_node(NextNodeContext(problem="monitor flickers", category="hardware", path=asked))
    assert second["question"] != first["question"]
    path: list[dict[str, str]] = []
    for _ in range(10):  # banks end with a resolve-or-escalate question
        node = offline_next_node(NextNodeContext(problem="x", category="general", path=path))
        path.append({"question": node["question"], "answer": "No"})
    assert {a["leads_to"] for a in node["answers"]} == {"resolve", "escalate"}


@pytest.mark.parametrize(("category", "problem", "expected"), [
    ("email", "", "email"), ("network", "", "network"), ("misc", "the printer jams", "printing"),
    ("misc", "locked out of my account", "account"), ("misc", "something odd", "general"),
])
def test_offline_question_banks_follow_the_category(category, problem, expected):
    assert family(category, problem) == expected


@pytest.mark.parametrize("data", [
    {"question": "", "answers": [{"label": "a", "leads_to": "next"}, {"label": "b", "leads_to": "next"}]},
    {"question": "q", "answers": [{"label": "a", "leads_to": "next"}]},
    {"question": "q", "answers": [{"label": "a", "leads_to": "next"}, {"label": "A", "leads_to": "resolve"}]},
    {"question": "q", "answers": [{"label": "a", "leads_to": "next"}, {"label": "b", "leads_to": "elsewhere"}]},
])
def test_normalize_node_rejects_unusable_nodes(data):
    with pytest.raises(ValueError):
        normalize_node(data)
