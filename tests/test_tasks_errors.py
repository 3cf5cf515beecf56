"""Bad data: every case is a one-line MbpError naming file, line and problem (never a traceback,
never a silent skip), and nothing is cached for a failing load."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbp.errors import MbpError
from mbp.tasks import load_examples
from mbp.tasks.encode import clear_memory_cache, memory_cache_size


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """An empty data root; MBP_CACHE points at a fresh folder that must stay empty."""
    monkeypatch.delenv("MBP_DATA_DIR", raising=False)
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    data = tmp_path / "data"
    data.mkdir()
    return data


def write(root: Path, rel: str, content: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def fails(root: Path, *args, **kwargs) -> str:
    """Run load_examples expecting an MbpError; check it is one clean line and nothing cached."""
    with pytest.raises(MbpError) as err:
        load_examples(*args, data_dir=root, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    chained = err.value.__cause__ or (
        None if err.value.__suppress_context__ else err.value.__context__
    )
    assert chained is None  # no "During handling of the above exception" traceback
    assert memory_cache_size() == 0
    cache = root.parent / "cache"
    assert not cache.exists() or not any(cache.rglob("*")), "a failing load left a cache entry"
    return message


def test_missing_file_lists_the_paths_looked_for(root):
    msg = fails(root, "rte", "dev")
    assert msg == (
        f"no rte dev file in data root {root} (looked for {root}/glue/RTE/dev.tsv, "
        f"{root}/RTE/dev.tsv): copy the file there (layout of ../shared/data) or unset "
        f"MBP_DATA_DIR to load from the Hugging Face hub"
    )


def test_missing_xnli_language_file_lists_every_layout(root):
    msg = fails(root, "xnli", "dev", "sw")
    for rel in ("xnli/dev/sw.tsv", "xnli/xnli.dev.tsv", "xnli/XNLI-1.0/xnli.dev.tsv"):
        assert str(root / rel) in msg


def test_data_root_that_does_not_exist(root):
    msg = fails(root / "nope", "rte", "dev")
    assert msg.startswith(f"data root {root / 'nope'} (MBP_DATA_DIR or data_dir) is not a folder")


def test_missing_column(root):
    path = write(root, "glue/SST-2/dev.tsv", "text\tlabel\ngood\t1\n")
    assert fails(root, "sst2", "dev") == (
        f"{path}: no text column (looked for 'sentence'); the header has 'text', 'label': "
        f"rename the column or use the GLUE/XNLI file"
    )


def test_missing_label_column(root):
    path = write(root, "glue/RTE/dev.tsv", "index\tsentence1\tsentence2\n0\ta\tb\n")
    msg = fails(root, "rte", "dev")
    assert msg.startswith(f"{path}: no label column (looked for 'label')")


def test_unknown_label_names_line_and_value(root):
    rows = "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tc\td\tentailed\n"
    path = write(root, "glue/RTE/dev.tsv", rows)
    assert fails(root, "rte", "dev") == (
        f"{path}: line 3: unknown rte label 'entailed' (expected one of 'entailment', "
        f"'not_entailment')"
    )


def test_numeric_label_out_of_range(root):
    path = write(root, "glue/SST-2/dev.tsv", "sentence\tlabel\ngood\t1\nbad\t2\n")
    msg = fails(root, "sst2", "dev")
    assert msg.startswith(f"{path}: line 3: unknown sst2 label '2'")


@pytest.mark.parametrize("score", ["high", "7.5", "nan", ""])
def test_bad_stsb_score(root, score):
    head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    path = write(root, "glue/STS-B/dev.tsv", f"{head}\n0\tg\tf\ty\t0\ts\ts\ta\tb\t{score}\n")
    assert fails(root, "stsb", "dev") == (
        f"{path}: line 2: score {score!r} is not a number between 0 and 5"
    )


@pytest.mark.parametrize("content", [b"", b"\n\n", b"  \n"])
def test_empty_file(root, content):
    path = write(root, "glue/RTE/dev.tsv", content)
    assert fails(root, "rte", "dev") == f"{path}: the file is empty: copy the original file again"


def test_header_without_rows(root):
    path = write(root, "glue/RTE/dev.tsv", "index\tsentence1\tsentence2\tlabel\n")
    assert fails(root, "rte", "dev") == (
        f"{path}: the file has a header but no rows: copy the original again"
    )


def test_non_utf8_bytes(root):
    path = write(root, "xnli/dev/fr.tsv", b"premise\thypothesis\tlabel\nCaf\xe9\tx\tneutral\n")
    assert fails(root, "xnli", "dev", "fr") == (
        f"{path}: line 2: not valid UTF-8 (byte 0xe9 at byte 4 of the line): re-save the file "
        f"as UTF-8"
    )


def test_ragged_row(root):
    rows = "premise\thypothesis\tlabel\na\tb\tneutral\nc\td\te\tneutral\n"
    path = write(root, "xnli/dev/en.tsv", rows)
    assert fails(root, "xnli", "dev", "en") == (
        f"{path}: line 3: expected 3 tab-separated fields like the header, found 4: fix or "
        f"remove that line"
    )


def test_blank_line_inside_the_file_is_not_skipped(root):
    path = write(root, "glue/SST-2/dev.tsv", "sentence\tlabel\ngood\t1\n\nbad\t0\n")
    msg = fails(root, "sst2", "dev")
    assert msg.startswith(f"{path}: line 3: expected 2 tab-separated fields like the header")


def test_headerless_cola_with_wrong_width(root):
    path = write(root, "glue/CoLA/dev.tsv", "gj04\t1\tA sentence.\n")
    msg = fails(root, "cola", "dev")
    assert msg.startswith(f"{path}: line 1: expected CoLA's 4 tab-separated fields")


def test_cola_ragged_row(root):
    path = write(root, "glue/CoLA/dev.tsv", "gj04\t1\t\tA sentence.\ngj04\t1\tshort\n")
    msg = fails(root, "cola", "dev")
    assert msg.startswith(f"{path}: line 2: expected 4 tab-separated fields like line 1, found 3")


def test_unknown_language(root):
    msg = fails(root, "xnli", "dev", "ja")
    assert msg.startswith("XNLI has no language 'ja': it has")  # no far-fetched suggestion
    assert msg.endswith("it has ar, bg, de, el, en, es, fr, hi, ru, sw, th, tr, ur, vi, zh")


def test_language_missing_from_the_single_xnli_file(root):
    path = write(
        root, "xnli/xnli.dev.tsv", "language\tgold_label\tsentence1\tsentence2\nen\tneutral\ta\tb\n"
    )
    assert (
        fails(root, "xnli", "dev", "de") == f"{path}: no rows for language 'de' (the file has en)"
    )


def test_unknown_task(root):
    msg = fails(root, "sst", "dev")
    assert msg.startswith("unknown task 'sst': did you mean 'sst2'")


def test_unknown_split(root):
    assert "task 'rte' has no split 'dve'" in fails(root, "rte", "dve")


def test_nothing_stale_after_fixing_the_file(root):
    path = write(root, "glue/SST-2/dev.tsv", "sentence\tlabel\ngood\tpositive?\n")
    fails(root, "sst2", "dev")
    path.write_text("sentence\tlabel\ngood\t1\n", encoding="utf-8")
    ex = load_examples("sst2", "dev", data_dir=root)
    assert ex.text_a == ["good"] and ex.labels.tolist() == [1]
