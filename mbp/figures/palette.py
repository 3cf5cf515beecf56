"""Fixed, colour-blind-safe colours: one per XNLI language, one per model, one per prune order.

Every page draws a language, model or order in the same colour, so a reader can carry the
mapping from one chart to the next. Colours come from Okabe & Ito (2008), Paul Tol's "muted" and
"bright" schemes and Tableau's colour-blind-10; related pairs are kept apart in hue or lightness.

    python -c "from mbp.figures import lang_color; print(lang_color('sw'))"
"""

from __future__ import annotations

import hashlib

#: One colour per XNLI language (Okabe-Ito, Tol muted/bright, Tableau CB10).
LANG_COLORS: dict[str, str] = {
    "en": "#0072B2",  # Okabe-Ito blue
    "fr": "#E69F00",  # Okabe-Ito orange
    "es": "#D55E00",  # Okabe-Ito vermillion
    "de": "#009E73",  # Okabe-Ito bluish green
    "el": "#56B4E9",  # Okabe-Ito sky blue
    "bg": "#CC79A7",  # Okabe-Ito reddish purple
    "ru": "#882255",  # Tol muted wine
    "tr": "#332288",  # Tol muted indigo
    "ar": "#117733",  # Tol muted green
    "vi": "#999933",  # Tol muted olive
    "th": "#44AA99",  # Tol muted teal
    "zh": "#AA4499",  # Tol muted purple
    "hi": "#CC6677",  # Tol muted rose
    "sw": "#B8860B",  # dark goldenrod (Tol sand, darkened to read on white)
    "ur": "#595959",  # Tableau CB10 dark grey
}

#: One colour per registry model; the BERT stand-in and the mBERT stand-in are far apart.
MODEL_COLORS: dict[str, str] = {
    "minilm-l6": "#4477AA",  # Tol bright blue  (BERT stand-in)
    "e5-small": "#EE6677",  # Tol bright red   (mBERT stand-in)
    "bert-base-cased": "#228833",
    "bert-base-multilingual-cased": "#CCBB44",
    "xlm-roberta-base": "#66CCEE",
    "distilbert-base-multilingual-cased": "#AA3377",
    "tiny-bert": "#BBBBBB",
}

#: One colour and one dash per prune order.
ORDER_COLORS: dict[str, str] = {
    "importance": "#0072B2",
    "reverse": "#D55E00",
    "iterative": "#009E73",
    "random": "#6F6F6F",
}
ORDER_DASH: dict[str, str] = {
    "importance": "solid",
    "reverse": "dot",
    "iterative": "dashdot",
    "random": "dash",
}
#: Vega-Lite strokeDash patterns (px on, px off) for the dash names above.
DASH_PATTERNS: dict[str, list[float]] = {
    "solid": [1, 0],
    "dot": [2, 3],
    "dash": [7, 4],
    "dashdot": [7, 3, 2, 3],
    "longdash": [12, 4],
    "longdashdot": [12, 4, 2, 4],
}
ORDER_LABELS: dict[str, str] = {
    "importance": "importance (least important first)",
    "reverse": "reverse (most important first)",
    "iterative": "iterative (re-scored each step)",
    "random": "random (mean over seeds)",
}

# Unknown names get a stable colour from this list (Tableau colour-blind 10, no greys).
_FALLBACK = ("#006BA4", "#FF800E", "#5F9ED1", "#C85200", "#A2C8EC", "#FFBC79", "#898989")

#: Diverging scale for drops (blue = removing it helped, red = it hurt), Tol's BuRd.
DIVERGING_SCALE: list[list[float | str]] = [
    [0.0, "#2166AC"],
    [0.125, "#4393C3"],
    [0.25, "#92C5DE"],
    [0.375, "#D1E5F0"],
    [0.5, "#F7F7F7"],
    [0.625, "#FDDBC7"],
    [0.75, "#F4A582"],
    [0.875, "#D6604D"],
    [1.0, "#B2182B"],
]
#: Sequential scheme for importance scores (perceptually uniform, colour-blind safe; Vega's name).
SEQUENTIAL_SCHEME = "viridis"

REFERENCE_COLOR = "#7A7A7A"


def _fallback(name: str) -> str:
    digest = int(hashlib.sha256(name.encode()).hexdigest(), 16)
    return _FALLBACK[digest % len(_FALLBACK)]


def lang_color(code: str) -> str:
    """The colour of a language code (a stable fallback colour for codes outside XNLI)."""
    return LANG_COLORS.get(code, _fallback(code))


def model_color(name: str) -> str:
    """The colour of a model (registry name; a local path is coloured by its folder name)."""
    return MODEL_COLORS.get(model_label(name), _fallback(model_label(name)))


def order_color(order: str) -> str:
    return ORDER_COLORS.get(order, _fallback(order))


def order_dash(order: str) -> str:
    return ORDER_DASH.get(order, "solid")


def dash_pattern(name: str) -> list[float]:
    """A dash name ("solid", "dot", ...) as a Vega-Lite strokeDash list."""
    if name not in DASH_PATTERNS:
        raise ValueError(f"unknown dash {name!r}: use one of {', '.join(DASH_PATTERNS)}")
    return list(DASH_PATTERNS[name])


def model_label(name: str) -> str:
    """A short display name: registry names as they are, a local model folder by its last part."""
    text = str(name).rstrip("/")
    return text.rsplit("/", 1)[-1] if text.startswith(("/", "~", ".")) else text
