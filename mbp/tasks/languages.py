"""Typological and resource metadata for the 15 XNLI languages, and the groups we compare.

Budhraja et al. (2021) ask whether prunability differs across kinds of languages (word order,
morphology, how much pre-training text mBERT saw). This module is the single source of those
facts, each with its source:

- family, genus: WALS Online (Dryer & Haspelmath, eds., 2013), the language's genealogy entry,
  https://wals.info/languoid. WALS puts Turkish in "Altaic", a contested grouping (Glottolog
  has a Turkic family); we keep WALS's label so one source covers every language.
- word_order: WALS feature 81A "Order of Subject, Object and Verb" (Dryer 2013),
  https://wals.info/feature/81A. German and Modern Greek are "no dominant order" there (German
  is V2 in main clauses and verb-final in subordinate ones); Arabic is Modern Standard Arabic.
- morphology: the conventional morphological type (e.g. Comrie 1989, "Language Universals and
  Linguistic Typology", ch. 2): Turkish and Swahili agglutinative; Thai, Vietnamese and Mandarin
  isolating; the Indo-European languages and Arabic fusional (Arabic's root-and-pattern
  morphology is often called introflexive, a kind of fusion). Hindi and Urdu are fusional.
- script: the script XNLI's text is written in (ISO 15924 names).
- wiki_articles: see `WIKI_SOURCE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mbp.tasks.registry import XNLI_LANGUAGES

WordOrder = Literal["SVO", "SOV", "VSO", "no dominant order"]
Morphology = Literal["agglutinative", "fusional", "isolating"]

#: Where `wiki_articles` comes from, stored with every language.
WIKI_SOURCE = (
    "Meta-Wiki 'List of Wikipedias' (https://meta.wikimedia.org/wiki/List_of_Wikipedias), "
    "article counts around November 2018, when the mBERT cased model was released "
    "(2018-11-23; google-research/bert multilingual.md: the languages are 'the top 100 languages "
    "with the largest Wikipedias'); the exact dump date mBERT used is not published, so counts "
    "are rounded to two significant figures: check the page history before quoting exact numbers"
)

#: Thresholds on `wiki_articles` for the resource groups.
LOW_RESOURCE_BELOW = 200_000
HIGH_RESOURCE_FROM = 1_000_000


@dataclass(frozen=True)
class LanguageInfo:
    """One XNLI language: who it is related to, how it is built, how much Wikipedia it has."""

    code: str
    name: str
    family: str
    genus: str
    word_order: WordOrder
    morphology: Morphology
    script: str
    wiki_articles: int
    wiki_source: str = WIKI_SOURCE

    @property
    def resource(self) -> Literal["low", "mid", "high"]:
        """Resource band by Wikipedia size (thresholds LOW_RESOURCE_BELOW, HIGH_RESOURCE_FROM)."""
        if self.wiki_articles < LOW_RESOURCE_BELOW:
            return "low"
        return "high" if self.wiki_articles >= HIGH_RESOURCE_FROM else "mid"


def _lang(code: str, name: str, family: str, genus: str, order: WordOrder, morph: Morphology,
          script: str, articles: int) -> LanguageInfo:  # fmt: skip
    return LanguageInfo(code, name, family, genus, order, morph, script, articles)


LANGUAGES: dict[str, LanguageInfo] = {
    info.code: info
    for info in (
        _lang("en", "English", "Indo-European", "Germanic", "SVO", "fusional", "Latin", 5_700_000),
        _lang("fr", "French", "Indo-European", "Romance", "SVO", "fusional", "Latin", 2_000_000),
        _lang("es", "Spanish", "Indo-European", "Romance", "SVO", "fusional", "Latin", 1_500_000),
        _lang("de", "German", "Indo-European", "Germanic", "no dominant order", "fusional",
              "Latin", 2_200_000),
        _lang("el", "Greek", "Indo-European", "Greek", "no dominant order", "fusional", "Greek",
              160_000),
        _lang("bg", "Bulgarian", "Indo-European", "Slavic", "SVO", "fusional", "Cyrillic",
              250_000),
        _lang("ru", "Russian", "Indo-European", "Slavic", "SVO", "fusional", "Cyrillic",
              1_500_000),
        _lang("tr", "Turkish", "Altaic", "Turkic", "SOV", "agglutinative", "Latin", 320_000),
        _lang("ar", "Arabic", "Afro-Asiatic", "Semitic", "VSO", "fusional", "Arabic", 620_000),
        _lang("vi", "Vietnamese", "Austro-Asiatic", "Viet-Muong", "SVO", "isolating", "Latin",
              1_200_000),
        _lang("th", "Thai", "Tai-Kadai", "Kam-Tai", "SVO", "isolating", "Thai", 130_000),
        _lang("zh", "Chinese (Mandarin)", "Sino-Tibetan", "Chinese", "SVO", "isolating",
              "Han (Simplified)", 1_000_000),
        _lang("hi", "Hindi", "Indo-European", "Indic", "SOV", "fusional", "Devanagari", 130_000),
        _lang("sw", "Swahili", "Niger-Congo", "Bantoid", "SVO", "agglutinative", "Latin", 50_000),
        _lang("ur", "Urdu", "Indo-European", "Indic", "SOV", "fusional", "Arabic", 140_000),
    )
}  # fmt: skip

assert tuple(LANGUAGES) == XNLI_LANGUAGES  # one entry per XNLI language, in XNLI order


def language_groups() -> dict[str, list[str]]:
    """Named groups of XNLI language codes (XNLI order within each group).

    Word order ("SVO", "SOV", "VSO", "no dominant order"), morphology ("agglutinative",
    "fusional", "isolating"), resource ("low-resource": < 200k articles, "mid-resource",
    "high-resource": >= 1M), script ("latin-script", "non-latin-script") and
    "indo-european" / "non-indo-european". Empty groups are left out.
    """
    langs = list(LANGUAGES.values())
    groups: dict[str, list[str]] = {}

    def add(name: str, members: list[LanguageInfo]) -> None:
        if members:
            groups[name] = [m.code for m in members]

    for order in ("SVO", "SOV", "VSO", "no dominant order"):
        add(order, [x for x in langs if x.word_order == order])
    for morph in ("agglutinative", "fusional", "isolating"):
        add(morph, [x for x in langs if x.morphology == morph])
    for band in ("low", "mid", "high"):
        add(f"{band}-resource", [x for x in langs if x.resource == band])
    add("latin-script", [x for x in langs if x.script == "Latin"])
    add("non-latin-script", [x for x in langs if x.script != "Latin"])
    add("indo-european", [x for x in langs if x.family == "Indo-European"])
    add("non-indo-european", [x for x in langs if x.family != "Indo-European"])
    return groups
