"""The assistant's request layout (prompt caching, windowing) and how tool calls become effects."""
from __future__ import annotations

import uuid

from shared.llm.anthropic_stream import StreamedTurn, ToolCall
from shared.llm.assistant_llm import reply_from_turn
from shared.llm.assistant_prompt import HISTORY_STEP, HISTORY_TURNS, build_request
from shared.llm.conversation import Conversation, Turn, clean_fix, clean_outcome


def conv(*turns: tuple[str, str]) -> Conversation:
    return Conversation(session_id=uuid.uuid4(), state_version=3, session_status="active",
                        intake={"problem": "VPN drops"}, psa_ticket_id="48291",
                        transcript=[Turn(r, t) for r, t in turns], facts=["MTU 1500"])


def test_breakpoints_on_the_system_the_session_and_the_end_of_the_history():
    system, messages = build_request(conv(("user", "hi"), ("assistant", "which network?"), ("user", "home wifi")))
    assert [b["cache_control"] for b in system] == [{"type": "ephemeral"}] * 2
    assert "48291" in system[1]["text"] and "MTU 1500" not in system[1]["text"]  # live state stays out of the prefix
    assert messages[0] == {"role": "user", "content": "hi"}
    assert messages[1]["content"] == [{"type": "text", "text": "which network?", "cache_control": {"type": "ephemeral"}}]
    last = messages[2]["content"][0]
    assert "cache_control" not in last and "MTU 1500" in last["text"] and last["text"].endswith("home wifi")
    cached = sum(1 for b in system if "cache_control" in b) + sum(
        1 for m in messages if isinstance(m["content"], list) and "cache_control" in m["content"][0])
    assert cached <= 4  # the API's limit on breakpoints


def test_a_failed_reply_leaves_two_user_turns_which_are_merged():
    _, messages = build_request(conv(("user", "first"), ("user", "second")))
    assert len(messages) == 1 and messages[0]["content"][0]["text"].endswith("first\n\nsecond")


def test_long_histories_are_windowed_in_steps_and_start_with_the_engineer():
    turns = [("user" if i % 2 == 0 else "assistant", f"t{i}") for i in range(HISTORY_TURNS + 7)]
    _, messages = build_request(conv(*turns))
    assert messages[0]["role"] == "user" and messages[0]["content"] == f"t{HISTORY_STEP}"
    more = turns + [("assistant", "x"), ("user", "y")]
    _, again = build_request(conv(*more))
    assert again[0]["content"] == messages[0]["content"]  # the window's start (the cached prefix) did not move


def test_tool_calls_validated_one_by_one():
    fix = {"title": "Lower MTU", "description": "d", "confidence_pct": 70, "script": "Set-NetIPInterface"}
    turn = StreamedTurn(text="", model="m", stop_reason="tool_use", usage={"input_tokens": 5}, tool_calls=[
        ToolCall("suggest_fix", fix), ToolCall("suggest_fix", {**fix, "title": "Other"}),
        ToolCall("record_facts", {"facts": ["a", "a", "b"]}), ToolCall("delete_everything", {})])
    reply = reply_from_turn(turn, "anthropic")
    assert reply.fix is not None and reply.fix.title == "Lower MTU" and reply.fix.script_language == "powershell"
    assert reply.facts == ["a", "b"]
    assert any("more than one" in d for d in reply.defects) and any("unknown tool" in d for d in reply.defects)
    assert reply.text.startswith('I\'ve suggested a fix: "Lower MTU".')  # tool calls only: a readable message


def test_clean_rejects_what_the_api_would_store_wrongly():
    assert clean_fix({"title": "t", "description": "d", "confidence_pct": 101})[0] is None
    assert clean_fix({"title": "t", "description": "d", "confidence_pct": True})[0] is None
    assert clean_fix({"title": "t", "description": "d", "confidence_pct": 5, "script": "x",
                      "script_language": "cobol"})[0] is None
    assert clean_outcome({"outcome": "dismissed", "reason": "r"})[0] is None  # the engineer's call alone
    partial, _ = clean_outcome({"outcome": "applied_partial", "reason": "Bob still can't print"})
    assert partial is not None and partial.notes == "Bob still can't print"  # PATCH needs notes for partial


def test_nul_characters_never_reach_postgres():
    turn = StreamedTurn(text="ok\x00 then", model="m", stop_reason="tool_use", tool_calls=[ToolCall("suggest_fix", {
        "title": "T\x00", "description": "d", "confidence_pct": 50, "script": "a\x00b",
        "script_parameters": {"p\x00": {"default": "\x00x"}}})])
    reply = reply_from_turn(turn, "anthropic")
    assert reply.text == "ok then" and reply.fix is not None
    assert (reply.fix.title, reply.fix.script, reply.fix.parameters) == ("T", "ab", {"p": {"default": "x"}})
