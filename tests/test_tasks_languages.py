"""Language metadata for the 15 XNLI languages and the groups the paper compares."""

from __future__ import annotations

import dataclasses

from mbp.tasks import LANGUAGES, XNLI_LANGUAGES, language_groups
from mbp.tasks.languages import HIGH_RESOURCE_FROM, LOW_RESOURCE_BELOW, WIKI_SOURCE


def test_one_entry_per_xnli_language():
    assert tuple(LANGUAGES) == XNLI_LANGUAGES
    for code, info in LANGUAGES.items():
        assert info.code == code
        assert info.wiki_articles > 0 and info.wiki_source == WIKI_SOURCE
        assert all(dataclasses.astuple(info))


def test_wals_word_order():
    order = {code: info.word_order for code, info in LANGUAGES.items()}
    assert order["de"] == order["el"] == "no dominant order"  # WALS 81A
    assert order["ar"] == "VSO"
    assert {c for c, o in order.items() if o == "SOV"} == {"hi", "tr", "ur"}


def test_morphology():
    morph = {code: info.morphology for code, info in LANGUAGES.items()}
    assert {c for c, m in morph.items() if m == "agglutinative"} == {"tr", "sw"}
    assert {c for c, m in morph.items() if m == "isolating"} == {"th", "vi", "zh"}
    assert morph["hi"] == morph["ur"] == "fusional"


def test_groups():
    groups = language_groups()
    assert groups["SVO"] == ["en", "fr", "es", "bg", "ru", "vi", "th", "zh", "sw"]
    assert groups["SOV"] == ["tr", "hi", "ur"]
    assert groups["agglutinative"] == ["tr", "sw"]
    assert groups["low-resource"] == ["el", "th", "hi", "sw", "ur"]
    assert groups["high-resource"] == ["en", "fr", "es", "de", "ru", "vi", "zh"]
    for codes in groups.values():
        assert codes and set(codes) <= set(XNLI_LANGUAGES)
    # The resource bands and the script split each partition the 15 languages.
    bands = groups["low-resource"] + groups["mid-resource"] + groups["high-resource"]
    assert sorted(bands) == sorted(XNLI_LANGUAGES)
    assert len(groups["latin-script"]) + len(groups["non-latin-script"]) == 15
    for code in groups["low-resource"]:
        assert LANGUAGES[code].wiki_articles < LOW_RESOURCE_BELOW
    for code in groups["high-resource"]:
        assert LANGUAGES[code].wiki_articles >= HIGH_RESOURCE_FROM
