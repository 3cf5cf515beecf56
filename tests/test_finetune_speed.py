"""Fine-tuning's speed levers: length-grouped batches, the fused optimiser, their benchmark.

Fast: grouped batches on a tiny random BERT's tokenised data (every example once per epoch,
padded per batch; their order: tests/test_length_grouped.py), the new spec fields leave stored
keys unchanged, a grouped + fused fine-tune of the tiny model, and the benchmark's `--quick`
path. Slow: on real SST-2, a grouped fine-tune of minilm-l6 scores in the default's band.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbp.engine.batching import grouped_batches
from mbp.errors import MbpError
from mbp.models import is_available
from mbp.spec import FinetuneSpec
from tests.tiny_project import make_tiny_model_dir, make_tiny_sst2


def _encoded(tokenizer, n: int, seed: int = 0):
    from mbp.models.tiny import WORDS
    from mbp.tasks import encode
    from mbp.tasks.examples import Examples

    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 30)))) for _ in range(n)]
    examples = Examples("sst2", "train", "en", ids=np.arange(n), text_a=texts, text_b=None,
                        labels=np.arange(n) % 2, source="test")  # fmt: skip
    return encode(tokenizer, examples, 64)


def test_grouped_batches_cover_every_example_once_padded_per_batch(tiny_tokenizer):
    encoded = _encoded(tiny_tokenizer, 203)
    lengths = np.array([len(x) for x in encoded.input_ids])
    batches = list(grouped_batches(encoded, 8, pad_id=0, device="cpu",
                                    rng=np.random.default_rng(1), megabatch_mult=5))  # fmt: skip
    seen = np.concatenate([b.index for b in batches])
    assert sorted(seen.tolist()) == list(range(203))  # every example exactly once
    assert len(batches) == int(np.ceil(203 / 8))  # as many steps as random batches
    for b in batches:
        ids, mask = b.inputs["input_ids"], b.inputs["attention_mask"]
        assert ids.shape[1] == lengths[b.index].max()  # padded to its own longest only
        assert mask.sum(1).tolist() == lengths[b.index].tolist()
        for row, i in enumerate(b.index):
            assert ids[row, : lengths[i]].tolist() == encoded.input_ids[i].tolist()
        assert b.labels.tolist() == encoded.labels[b.index].tolist()
    # batches of similar lengths: far less padding than random batches of the same size
    order = np.random.default_rng(1).permutation(203)
    random_width = sum(lengths[order[i : i + 8]].max() * len(order[i : i + 8])
                       for i in range(0, 203, 8))  # fmt: skip
    grouped_width = sum(b.inputs["input_ids"].numel() for b in batches)
    assert grouped_width < 0.8 * random_width


def test_default_training_batches_are_the_shuffled_batches_whole(tiny_tokenizer):
    """One optimiser step per shuffled batch of `batch_size`: evaluation's padding-saving cuts
    (least_padding_bounds) must not split a training batch, which would change the recipe's
    weights under an unchanged checkpoint key."""
    from mbp.engine.finetune import _shuffled_batches

    encoded = _encoded(tiny_tokenizer, 203)  # lengths 3..31: cuts would save padding here
    rng = np.random.default_rng(0)
    order = np.random.default_rng(0).permutation(203)
    batches = list(_shuffled_batches(encoded, 32, 0, "cpu", rng))
    assert [len(b.index) for b in batches] == [32] * 6 + [11]
    for k, b in enumerate(batches):  # the k-th shuffled chunk, rows longest first
        ids, mask = b.inputs["input_ids"], b.inputs["attention_mask"]
        rows = sorted(tuple(ids[r, : int(mask[r].sum())].tolist()) for r in range(len(ids)))
        chunk = order[32 * k : 32 * (k + 1)]
        assert rows == sorted(tuple(encoded.input_ids[i].tolist()) for i in chunk)


def test_new_spec_fields_keep_old_keys_and_opt_in_changes_the_key():
    # keys computed by the spec before `batching` and `optimizer` existed
    old = FinetuneSpec("minilm-l6", "abc123", "sst2")
    assert old.key == "9fcaf36d15e98afe"
    bf16 = FinetuneSpec("minilm-l6", "abc123", "sst2", train_examples=1000, epochs=1.0,
                        precision="bf16")  # fmt: skip
    assert bf16.key == "7fedb265da1da725"
    assert "batching" not in old.to_dict() and "optimizer" not in old.to_dict()
    grouped = FinetuneSpec("minilm-l6", "abc123", "sst2", batching="grouped")
    fused = FinetuneSpec("minilm-l6", "abc123", "sst2", optimizer="adamw-fused")
    # the retired global-sort batching keeps its own key: its checkpoints are never reused
    retired = FinetuneSpec("minilm-l6", "abc123", "sst2", batching="bucketed")
    assert len({old.key, grouped.key, fused.key, retired.key}) == 4
    assert grouped.to_dict()["batching"] == "grouped"


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.setenv("MBP_CACHE", str(tmp_path / "cache"))
    model_dir = make_tiny_model_dir(tmp_path / "tiny-model", layers=2, heads=4)
    return str(model_dir), str(make_tiny_sst2(tmp_path / "data"))


def test_grouped_fused_finetune_is_its_own_reproducible_checkpoint(tiny):
    from mbp.engine.finetune import finetune, finetune_threads, train

    model, data = tiny
    base = dict(train_examples=48, epochs=2, batch_size=8)
    default = finetune(FinetuneSpec(model, "x", "sst2", **base), data_dir=data, device="cpu",
                       progress=False)  # fmt: skip
    spec = FinetuneSpec(model, "x", "sst2", batching="grouped", optimizer="adamw-fused", **base)
    fast = finetune(spec, data_dir=data, device="cpu", progress=False)
    assert fast.path != default.path and fast.n_train == 48
    assert fast.weights_sha256 != default.weights_sha256
    with finetune_threads(torch.device("cpu")):  # same spec and threads: the same weights
        again = train(spec, torch.device("cpu"), data_dir=data)
    from mbp.engine.finetune import load_checkpoint

    stored, _ = load_checkpoint(fast.path)
    for (name, p), q in zip(again.model.state_dict().items(), stored.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(p, q), name


@pytest.mark.parametrize(("field", "value"), [("batching", "sorted"), ("optimizer", "sgd")])
def test_unknown_lever_is_refused_in_one_line(tiny, field, value):
    from mbp.engine.finetune import finetune

    model, data = tiny
    spec = FinetuneSpec(model, "x", "sst2", train_examples=16, **{field: value})
    with pytest.raises(MbpError) as err:
        finetune(spec, data_dir=data, device="cpu", progress=False)
    text = str(err.value)
    assert repr(value) in text and "use one of" in text and "\n" not in text


def test_the_retired_bucketed_batching_is_refused_with_its_replacement():
    from mbp.engine.finetune import check_recipe

    with pytest.raises(MbpError, match=r"'bucketed' .* is retired.*use 'grouped'"):
        check_recipe(FinetuneSpec("m", "x", "sst2", batching="bucketed"), torch.device("cpu"))


def test_bench_quick_path_reports_ratios_against_the_trainer(tiny, capsys):
    pytest.importorskip("accelerate")  # the Trainer needs it
    from bench import finetune_speed

    model, data = tiny
    assert finetune_speed.main(["--quick", "--model", model, "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "HF Trainer, padded to max length (anchor)" in out
    assert "/ Trainer padded to max length" in out and ">= 3x" in out
    assert "padded tokens per example" in out
    result_rows = [line for line in out.splitlines() if "/ Trainer padded" in line]
    assert len(result_rows) == 4 and all(
        line.rstrip().endswith(("yes", "no")) for line in result_rows
    )


def test_bench_dev_verdict_compares_means_over_seeds_and_flags_a_wide_spread():
    from bench.finetune_speed import Outcome, Variant, dev_verdict

    v = Variant("x", "x")
    anchor = Outcome(v, devs={0: 0.70, 1: 0.72, 2: 0.74})  # mean 0.72, sd 2 pt
    close = Outcome(v, devs={0: 0.735, 1: 0.725, 2: 0.715})  # mean 0.725: per seed up to 3.5 apart
    verdict = dev_verdict(anchor, close)
    assert verdict.diff == pytest.approx(0.005) and verdict.within
    assert verdict.spread == pytest.approx(0.02) and verdict.weak  # sd 2 pt > the 1-pt band
    assert "0.5 pt apart over 3 seed(s)" in verdict.text() and "weak" in verdict.text()
    tight = dev_verdict(Outcome(v, devs={0: 0.70, 1: 0.701}), Outcome(v, devs={0: 0.72, 1: 0.72}))
    assert tight.diff == pytest.approx(0.0195) and not tight.within and not tight.weak
    assert "dev within 1 pt not met" in tight.text() and "weak" not in tight.text()
    one = dev_verdict(Outcome(v, devs={3: 0.7}), Outcome(v, devs={3: 0.705}))
    assert one.within and one.weak and "one seed" in one.text()
    with pytest.raises(ValueError, match=r"seeds \[0, 1\] vs \[0\]"):
        dev_verdict(Outcome(v, devs={0: 0.7, 1: 0.7}), Outcome(v, devs={0: 0.7}))


def test_bench_dev_half_is_not_established_when_the_anchor_is_at_chance():
    from bench.finetune_speed import Outcome, Variant, chance_score, dev_verdict

    labels = np.array([0] * 428 + [1] * 444)  # SST-2 dev: the majority class scores 0.509
    chance = chance_score("sst2", labels)
    assert chance == pytest.approx(444 / 872)
    assert chance_score("stsb", np.array([0.5, 4.0, 2.5])) == 0.0
    v = Variant("x", "x")
    # the 128-example run: every model on the majority class, the means 0.2 pt apart
    collapsed = dev_verdict(Outcome(v, devs={0: 0.503, 1: 0.509}),
                            Outcome(v, devs={0: 0.503, 1: 0.505}), chance)  # fmt: skip
    assert collapsed.diff < 0.01 and not collapsed.established and not collapsed.within
    assert "dev half NOT ESTABLISHED" in collapsed.text() and "0.509" in collapsed.text()
    learned = dev_verdict(Outcome(v, devs={0: 0.72, 1: 0.74}),
                          Outcome(v, devs={0: 0.725, 1: 0.74}), chance)  # fmt: skip
    assert learned.established and learned.within and "NOT ESTABLISHED" not in learned.text()


def test_bench_multi_seed_path_prints_each_seed_and_their_mean(tiny, capsys, monkeypatch):
    pytest.importorskip("accelerate")  # the Trainer needs it
    from bench import finetune_speed

    # the tiny model stays at chance on every seed: hand the real runs known dev scores, in
    # call order (seed 0: trainer, mbp; seed 3 interleaved the other way: mbp, trainer)
    scores = iter([0.70, 0.74, 0.76, 0.73])
    monkeypatch.setattr(finetune_speed, "_dev_score", lambda *a: next(scores))
    model, data = tiny
    argv = ["--quick", "--model", model, "--data-dir", data, "--seeds", "0", "3",
            "--only", "trainer-pad,mbp-default"]  # fmt: skip
    assert finetune_speed.main(argv) == 0
    out = capsys.readouterr().out
    runs = [line.split() for line in out.splitlines() if line.strip().startswith("repeat 1 seed")]
    devs = {(w[4].rstrip(":"), int(w[3])): float(w[-1]) for w in runs}  # (variant, seed) -> dev
    assert devs == {("trainer-pad", 0): 0.70, ("mbp-default", 0): 0.74,
                    ("mbp-default", 3): 0.76, ("trainer-pad", 3): 0.73}  # fmt: skip
    table = {c[0]: c for c in (line.strip("| ").split(" | ") for line in out.splitlines())}
    anchor = table["HF Trainer, padded to max length (anchor)"]
    mbp = table["mbp default (random batches, AdamW)"]
    assert anchor[6:9] == ["0.700 / 0.730", "0.715", "2.1"]  # per seed, mean, sd (ddof 1)
    assert mbp[6:10] == ["0.740 / 0.760", "0.750", "1.4", "3.5"]  # |0.750 - 0.715|
    row = next(line for line in out.splitlines() if "/ Trainer padded" in line)
    assert "mean dev 3.5 pt apart over 2 seed(s), dev within 1 pt not met" in row
    assert "seed sd up to 2.1 pt > the 1 pt band: weak verdict" in row
    assert row.rstrip().endswith("no")  # fast enough, but the means are 3.5 pt apart


def test_bench_refuses_repeated_seeds_in_one_line(capsys):
    from bench import finetune_speed

    with pytest.raises(SystemExit):
        finetune_speed.main(["--seeds", "0", "0"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "seeds [0, 0]" in err and "--seeds 0 1 2" in err


# ---------------------------------------------------------------- slow: real SST-2

# figure 10's short recipe, which learns SST-2 (0.789 there); 1,000 examples for 1 epoch at lr
# 5e-5 did not move minilm-l6 off the majority class (0.509 for both recipes: measured)
REAL = dict(train_examples=384, epochs=2.0, lr=1e-4, batch_size=16, max_length=64)
#: How far apart two recipes' mean dev accuracies over `SEEDS` may be and still be "the same
#: band". Per seed is too tight: the default recipe with only another batch order moved 0.1-5.7
#: points on seeds 0-2 (docs/BENCHMARKS.md 11); the retired global sort missed it by 4.4.
BAND = 0.03
SEEDS = (0, 1, 2)


@pytest.mark.slow
@pytest.mark.skipif(not is_available("minilm-l6"), reason="minilm-l6 is not installed")
def test_grouped_finetune_on_real_sst2_scores_in_the_default_band(shared_data_dir):
    from mbp.engine.evaluate import evaluate
    from mbp.engine.finetune import finetune_threads, train
    from mbp.models import model_checksum
    from mbp.tasks import encode, get_task
    from mbp.tasks.scoring import scoring_examples

    cpu = torch.device("cpu")
    checksum = model_checksum("minilm-l6")
    _, dev = scoring_examples("sst2", str(shared_data_dir), 872)
    levers = {"default": {}, "grouped": {"batching": "grouped", "optimizer": "adamw-fused"}}
    scores: dict[str, list[float]] = {name: [] for name in levers}
    for seed in SEEDS:
        for name, lever in levers.items():
            spec = FinetuneSpec("minilm-l6", checksum, "sst2", seed=seed, **REAL, **lever)
            with finetune_threads(cpu):  # the fine-tune's thread count: the measured weights
                trained = train(spec, cpu, data_dir=str(shared_data_dir))
            tok = trained.tokenizer
            scores[name].append(evaluate(trained.model, encode(tok, dev, 64), get_task("sst2"),
                                         pad_id=tok.pad_token_id or 0, device=cpu,
                                         precision="fp32")["accuracy"])  # fmt: skip
    mean = {name: float(np.mean(values)) for name, values in scores.items()}
    assert mean["default"] >= 0.70, scores  # the default recipe learns (majority class: 0.51)
    assert abs(mean["grouped"] - mean["default"]) <= BAND, scores
