"""The task registry: every task's facts, lookups and the errors for bad names."""

from __future__ import annotations

import pytest

from mbp.errors import MbpError
from mbp.tasks import TASKS, XNLI_LANGUAGES, check_language, get_task, resolve_split, task_names

GLUE = ["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"]


def test_all_tasks_are_registered():
    assert task_names() == [*GLUE, "xnli"]


@pytest.mark.parametrize(
    ("task", "metrics", "primary"),
    [
        ("cola", ("matthews",), "matthews"),
        ("sst2", ("accuracy",), "accuracy"),
        ("mrpc", ("f1", "accuracy"), "f1"),
        ("qqp", ("f1", "accuracy"), "f1"),
        ("stsb", ("spearman", "pearson"), "spearman"),
        ("mnli", ("accuracy",), "accuracy"),
        ("qnli", ("accuracy",), "accuracy"),
        ("rte", ("accuracy",), "accuracy"),
        ("xnli", ("accuracy",), "accuracy"),
    ],
)
def test_metrics(task, metrics, primary):
    info = get_task(task)
    assert info.metrics == metrics
    assert info.primary_metric == primary
    assert info.primary_metric in info.metrics


def test_labels_follow_the_hub_order():
    assert get_task("mnli").labels == ("entailment", "neutral", "contradiction")
    assert get_task("xnli").labels == get_task("mnli").labels
    assert get_task("rte").labels == ("entailment", "not_entailment")
    assert get_task("cola").labels == ("unacceptable", "acceptable")
    assert get_task("stsb").labels is None
    assert get_task("stsb").is_regression and get_task("stsb").num_labels == 1
    assert get_task("mnli").num_labels == 3


def test_text_fields():
    assert get_task("sst2").text_fields == ("sentence", None)
    assert get_task("qqp").text_fields == ("question1", "question2")
    assert get_task("xnli").text_fields == ("premise", "hypothesis")


def test_xnli_trains_on_mnli_and_has_15_languages():
    xnli = get_task("xnli")
    assert xnli.train_task == "mnli"
    assert xnli.eval_splits == ("dev", "test")
    assert len(xnli.languages) == 15
    expected = {
        "ar",
        "bg",
        "de",
        "el",
        "en",
        "es",
        "fr",
        "hi",
        "ru",
        "sw",
        "th",
        "tr",
        "ur",
        "vi",
        "zh",
    }
    assert set(xnli.languages) == expected
    assert xnli.languages == XNLI_LANGUAGES
    for name in GLUE:
        assert TASKS[name].train_task == name
        assert TASKS[name].languages == ("en",)
        assert TASKS[name].train_split == "train"


def test_task_info_is_frozen():
    with pytest.raises(AttributeError):
        get_task("rte").name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("alias", "name"), [("SST-2", "sst2"), ("STS-B", "stsb"), (" RTE ", "rte")]
)
def test_aliases(alias, name):
    assert get_task(alias).name == name
    assert get_task(get_task(name)) is TASKS[name]


def test_unknown_task_names_the_closest():
    with pytest.raises(MbpError, match=r"unknown task 'mnl1': did you mean 'mnli'") as err:
        get_task("mnl1")
    assert "valid tasks are cola, sst2" in str(err.value)
    assert "\n" not in str(err.value)


def test_check_language():
    assert check_language("xnli", "SW") == "sw"
    assert check_language("rte", None) == "en"
    assert check_language("rte", "en") == "en"
    with pytest.raises(MbpError, match=r"XNLI has no language 'ja'.*it has ar, bg, de"):
        check_language("xnli", "ja")
    with pytest.raises(MbpError, match=r"did you mean 'sw'"):
        check_language("xnli", "swa")
    with pytest.raises(MbpError, match=r"task 'xnli' needs a language"):
        check_language("xnli", None)
    with pytest.raises(MbpError, match=r"task 'rte' has no language 'de': it is 'en' only"):
        check_language("rte", "de")


def test_resolve_split():
    assert resolve_split("rte", "validation") == "dev"
    assert resolve_split("mnli", "dev") == "dev_matched"
    assert resolve_split("mnli", "validation_mismatched") == "dev_mismatched"
    assert resolve_split("xnli", "test") == "test"
    assert resolve_split("mnli", "heldout") == "heldout"
    with pytest.raises(MbpError, match=r"GLUE test labels are hidden"):
        resolve_split("rte", "test")
    with pytest.raises(MbpError, match=r"task 'rte' has no split 'trian': did you mean 'train'"):
        resolve_split("rte", "trian")


def test_the_tasks_table_lists_the_language_codes_each_task_accepts():
    from mbp.tasks import tasks_table

    rows = {row["task"]: row for row in tasks_table(None)}
    assert rows["sst2"]["languages"] == "en"
    assert rows["xnli"]["languages"].split() == list(get_task("xnli").languages)
