"""Render every page of the dashboard in demo mode; print what happened as one JSON object.

A script, not a test module: `tests/test_demo_venv.py` runs it with the interpreter of a fresh
venv that holds only `requirements-demo.txt` (no pytest, no torch), so it imports nothing but
the standard library and Streamlit's own `AppTest`. Run it by hand from the repository root:

    MBP_MODE=demo MBP_STORE=/tmp/demo.duckdb MBP_JOBS_DIR=/tmp/jobs python tests/demo_render.py

Output: {"pages": {path: {"titles", "exceptions", "errors"}}, "modules": [top-level modules
imported], "distributions": [installed distributions those modules come from]}.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from pathlib import Path

from streamlit.testing.v1 import AppTest

REPO_ROOT = Path(__file__).resolve().parents[1]
APP = REPO_ROOT / "app.py"


def registered_pages(app: Path = APP) -> list[str]:
    """The page files app.py registers with `st.Page("views/....py", ...)`, in order."""
    return re.findall(r'st\.Page\(\s*"([^"]+\.py)"', app.read_text(encoding="utf-8"))


NOT_SUPPORTED_ICON = ":material/cancel:"  # views/claims.py, the verdict "not supported"


def render(page: str) -> dict[str, list[str]]:
    """Open the app, switch to `page` (the default page needs no switch), render it once."""
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()
    if page != registered_pages()[0]:
        at.switch_page(page).run()
    return {
        "titles": [t.value for t in at.title],
        "exceptions": [str(e.value) for e in at.exception],
        # a claim judged "not supported" is shown as a red callout with this icon: a result the
        # page reports (views/claims.py), not a failure of the page
        "errors": [str(e.value) for e in at.error if e.proto.icon != NOT_SUPPORTED_ICON],
    }


def imported_distributions(modules: list[str]) -> list[str]:
    """The installed distributions that provide the imported top-level modules."""
    owners = metadata.packages_distributions()
    return sorted({dist.lower() for name in modules for dist in owners.get(name, [])})


def main() -> None:
    sys.path.insert(0, str(REPO_ROOT))  # `streamlit run app.py` puts the app's folder first too
    pages = {page: render(page) for page in registered_pages()}
    modules = sorted({name.split(".")[0] for name in list(sys.modules)})
    report = {
        "pages": pages,
        "modules": modules,
        "distributions": imported_distributions(modules),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
