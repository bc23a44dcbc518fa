"""Which note on a ticket an earlier attempt left (shared/note_adoption.py): flags, window, content, ownership."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.note_adoption import NoteAttempt, content_key, find_posted, flags_match, watermark_of
from shared.psa.base import Note

TEXT = "## Resolution\n\nPrinter back online."
FIRST = datetime(2026, 12, 1, 12, 0, 0, 700_000, tzinfo=UTC)  # our first attempt, mid-second


def note(note_id: str, *, text: str = TEXT, at: datetime | None = FIRST + timedelta(seconds=1),
         resolution: bool = True, internal: bool = False) -> Note:
    return Note(id=note_id, text=text, created_at=at, internal=internal, resolution=resolution)


def attempt(watermark: int | None = 100, *texts: str) -> NoteAttempt:
    return NoteAttempt(FIRST, watermark, tuple(content_key(t) for t in (texts or (TEXT,))))


def test_content_key_ignores_whitespace_differences_only():
    assert content_key(TEXT) == content_key("## Resolution\r\n\r\n  Printer back online.  \n")
    assert content_key(TEXT) != content_key(TEXT + " Again.")


@pytest.mark.parametrize(("kind", "resolution", "internal", "ok"), [
    ("resolution_note", True, False, True),
    ("resolution_note", False, True, False),  # an internal note with our text is not our resolution
    ("resolution_note", True, True, False),
    ("resolution_note", False, False, False),  # a detail description
    ("escalation_package", False, True, True),
    ("escalation_package", True, False, False),
    ("escalation_package", True, True, False),
])
def test_flags_must_match_the_kind(kind, resolution, internal, ok):
    assert flags_match(note("101", resolution=resolution, internal=internal), kind) is ok
    assert (find_posted([note("101", resolution=resolution, internal=internal)], attempt(), kind, set()) is not None) is ok


def test_watermark_decides_exactly_whatever_the_clocks_say():
    behind = FIRST - timedelta(minutes=5)  # the PSA's clock runs 5 minutes behind ours
    assert find_posted([note("101", at=behind)], attempt(100), "resolution_note", set()).id == "101"
    ahead = FIRST + timedelta(minutes=5)
    assert find_posted([note("100", at=ahead), note("99", at=ahead)], attempt(100), "resolution_note", set()) is None


def test_without_a_watermark_the_window_starts_at_our_first_attempt_never_before():
    legacy = attempt(None)
    same_second = FIRST.replace(microsecond=0)  # PSAs store whole seconds
    assert find_posted([note("7", at=same_second)], legacy, "resolution_note", set()) is not None
    before = FIRST - timedelta(seconds=1)
    assert find_posted([note("7", at=before)], legacy, "resolution_note", set()) is None
    assert find_posted([note("7", at=FIRST - timedelta(days=3))], legacy, "resolution_note", set()) is None
    assert find_posted([note("7", at=None)], legacy, "resolution_note", set()) is None  # cannot prove when


def test_content_of_any_earlier_attempt_counts_and_nothing_else():
    edited = "## Resolution\n\nPrinter back online (edited)."
    both = attempt(100, TEXT, edited)
    assert find_posted([note("105", text=edited)], both, "resolution_note", set()).id == "105"
    assert find_posted([note("105", text="Someone else's note")], both, "resolution_note", set()) is None


def test_a_note_the_session_already_owns_is_not_adopted_again():
    assert find_posted([note("101")], attempt(), "resolution_note", {"101"}) is None


def test_the_earliest_of_several_candidates_is_ours():
    found = find_posted([note("130"), note("120"), note("125")], attempt(100), "resolution_note", set())
    assert found is not None and found.id == "120"


def test_watermark_of_a_ticket():
    assert watermark_of([]) == 0
    assert watermark_of([note("12"), note("990"), note("5")]) == 990
    assert watermark_of([note("12"), note("abc-1")]) is None  # ids that are not numbers: fall back to time


def test_recovery_point_round_trip_and_legacy_format():
    step = attempt(100).sending(content_key("other")).to_step()
    again = NoteAttempt.from_step(step)
    assert again.first_at == FIRST and again.watermark == 100
    assert set(again.content_keys) == {content_key(TEXT), content_key("other")} and step["last_at"]
    legacy = NoteAttempt.from_step({"at": FIRST.isoformat(), "content_key": content_key(TEXT)})
    assert legacy.watermark is None and legacy.content_keys == (content_key(TEXT),)
    assert attempt().sending(content_key(TEXT)).content_keys == (content_key(TEXT),)  # no duplicates
