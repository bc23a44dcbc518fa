"""Text to terms for matching: lower-case words, stop words dropped, a light suffix stemmer.

Deliberately small and predictable (no corpus-trained model): the same text always gives the same
terms, and a technician can read why two texts matched. `terms()` keeps the first surface form of
each stem so explanations show words the technician typed ("printer"), not stems ("print").
"""
from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")

STOP_WORDS = frozenset(
    """
    a about after again all also am an and any are as at be been before being but by can cannot cant
    could did didnt do does doesnt doing dont down each even ever every few for from get gets getting
    got had has have having he her here him his how i if in into is isnt it its just keep keeps me
    more most my no nor not now of off on once only or other our out over own please same she should
    since so some still such than that the their them then there these they this those through to too
    under until up very was wasnt we were what when where which while who why will with wont would
    you your yes either neither whether
    issue issues problem problems help user users customer customers someone something thing things
    today morning afternoon tonight yesterday trying tried try says said say like really
    """.split()
)

# Longest first; each needs a stem of at least 3 letters left.
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ions", "ion", "ers", "er", "ies", "ied", "ed", "ly")
_NO_UNDOUBLE = frozenset("lsz")


def stem(word: str) -> str:
    """A light stemmer: printer/printing/prints → print, crashes/crashed → crash, drive/drives → driv."""
    if len(word) <= 3 or word.isdigit():
        return word
    w = word
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in _NO_UNDOUBLE and w[-1] not in "aeiou":
                w = w[:-1]  # stopped → stopp → stop
            break
    else:
        if w.endswith(("sses", "shes", "ches", "xes", "zes")):
            w = w[:-2]
        elif w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
            w = w[:-1]
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # save/saved/saving → sav
    return w


def words(text: str) -> list[str]:
    return [w.replace("’", "'").split("'")[0] for w in _WORD.findall(text.lower())]


def terms(text: str) -> dict[str, str]:
    """Stem → first surface word, in order of appearance, stop words and 1-letter words left out."""
    out: dict[str, str] = {}
    for word in words(text):
        if len(word) < 2 or word in STOP_WORDS:
            continue
        out.setdefault(stem(word), word)
    return out
