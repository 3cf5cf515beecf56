"""Fine-tune a classifier on a task's training data, with checkpoints reused by spec.

Defaults follow the paper (Budhraja et al. 2021, after Devlin et al.): AdamW, lr 2e-5, batch 32,
max length 128, 3 epochs, linear warm-up then decay. A finished checkpoint with the same
`FinetuneSpec` key is reused; a killed run leaves no half-written checkpoint (it is written to a
temporary directory and renamed into place). With `pruned_heads`, the heads are removed first
and stay removed while the rest is retrained (prune-then-fine-tune, Budhraja et al. 2020).
Faster, opt-in (other weights, so part of the key): `batching="grouped"` (batches of similar
lengths, padded per batch) and `optimizer="adamw-fused"` (docs/BENCHMARKS.md figure 11).

    ckpt = finetune(FinetuneSpec("minilm-l6", checksum, "sst2", train_examples=4000, epochs=1))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from mbp.engine.batching import grouped_batches, length_sorted_batches
from mbp.engine.device import autocast, resolve_device, resolved_precision
from mbp.engine.evaluate import evaluate
from mbp.engine.prune import load_pruned, prune_heads, save_pruned
from mbp.engine.training_rate import REPORT_AFTER_S, TrainingRate
from mbp.errors import MbpError
from mbp.paths import cache_dir
from mbp.spec import FinetuneSpec

DONE_MARKER = "mbp_finetune.json"
# torch's default CPU generator starts every process at this seed: a fine-tune seeded with it
# (plus the spec's seed) initialises its new classifier as a fresh process always did, whatever
# ran in the process before it (several retrained cells in one process, a resumed run).
_TORCH_START_SEED = 67280421310721
#: Intra-op threads while fine-tuning on CPU. Results depend on the thread count (measured:
#: the same spec on 1 and on 2 threads gives different weights), so it is fixed: the same spec
#: trains to the same weights in every process of these machines. `MBP_FINETUNE_THREADS`
#: trades that for speed; a checkpoint is identified by its weights' sha256 in any case.
FINETUNE_THREADS = int(os.environ.get("MBP_FINETUNE_THREADS", "1"))
#: `FinetuneSpec.batching`: shuffled batches, or batches of similar lengths (Hugging Face's
#: length-grouped megabatches, `mbp.engine.batching.grouped_order`).
BATCHINGS = ("random", "grouped")
#: Batchings mbp no longer trains, with what replaced them. "bucketed" sorted the whole epoch
#: (one megabatch) and cost 1.0-6.5 dev points on a 48-step SST-2 recipe; a new name, so its
#: checkpoints (keyed by the old name) are never taken for the new rule's.
RETIRED_BATCHINGS = {"bucketed": "grouped"}
#: `FinetuneSpec.optimizer`: torch's AdamW (foreach), or its fused kernel.
OPTIMIZERS = ("adamw", "adamw-fused")


@dataclass
class Trained:
    """A fine-tuned model in memory, before its dev score and checkpoint."""

    model: torch.nn.Module
    tokenizer: object
    n_train: int
    train_seconds: float  # the training loop only (no loading, no dev score)


@dataclass
class Checkpoint:
    key: str
    path: Path
    metric: str
    dev_value: float
    dev_split: str
    n_train: int
    seconds: float
    weights_sha256: str | None = None  # what the checkpoint is (None: written before mbp kept it)


def checkpoints_root() -> Path:
    """The folder every fine-tuned checkpoint of this machine's cache lives in."""
    return cache_dir() / "checkpoints"


def checkpoint_dir(spec: FinetuneSpec) -> Path:
    label = Path(spec.model).name or "model"  # a registry name, or a local directory's name
    return checkpoints_root() / f"{label}-{spec.task}-{spec.key}"


def finished_finetunes() -> list[dict]:
    """The recorded info (`DONE_MARKER`) of every finished checkpoint in this machine's cache:
    its spec, training-loop seconds, examples, device and threads (what estimates learn from)."""
    infos = []
    for marker in sorted(checkpoints_root().glob(f"*/{DONE_MARKER}")):
        with contextlib.suppress(OSError, ValueError):  # removed meanwhile, or unreadable
            infos.append(json.loads(marker.read_text()))
    return infos


def find_checkpoint(spec: FinetuneSpec) -> Checkpoint | None:
    """A finished checkpoint for this spec, or None (a directory without the marker is ignored)."""
    path = checkpoint_dir(spec)
    marker = path / DONE_MARKER
    if not marker.exists():
        return None
    info = json.loads(marker.read_text())
    return Checkpoint(
        spec.key,
        path,
        info["metric"],
        info["dev_value"],
        info["dev_split"],
        info["n_train"],
        info["seconds"],
        info.get("weights_sha256"),
    )


def load_checkpoint(path: str | Path):
    """(model, tokenizer) from a checkpoint directory."""
    from transformers import AutoTokenizer

    model = load_pruned(path)
    tokenizer = AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    return model, tokenizer


def _shuffled_batches(encoded, batch_size: int, pad_id: int, device, rng: np.random.Generator):
    """Random batches (padded per batch): shuffle, then let the length-sorted batcher pad."""
    from mbp.tasks import Encoded

    order = rng.permutation(len(encoded.input_ids))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        part = Encoded(
            input_ids=[encoded.input_ids[i] for i in idx],
            token_type_ids=None
            if encoded.token_type_ids is None
            else [encoded.token_type_ids[i] for i in idx],
            labels=np.asarray(encoded.labels)[idx],
            ids=np.asarray(encoded.ids)[idx],
        )
        yield from length_sorted_batches(part, len(idx), pad_id, device, save_padding=False)


def finetune(
    spec: FinetuneSpec,
    *,
    data_dir: str | None = None,
    device: str = "auto",
    dev_examples: int = 2000,
    progress: bool = True,
) -> Checkpoint:
    """Fine-tune (or reuse) and return the checkpoint, with its dev score.

    The forward passes (training and the dev score) run in `spec.precision`, part of the
    checkpoint's key; weights and optimiser state stay fp32.
    """
    found = find_checkpoint(spec)
    if found is not None:
        return found
    torch_device = resolve_device(device)
    check_recipe(spec, torch_device)
    with finetune_threads(torch_device):
        return _finetune(spec, torch_device, data_dir, dev_examples, progress)


def check_recipe(spec: FinetuneSpec, device: torch.device) -> None:
    """Refuse (MbpError, one line) a recipe this device cannot train."""
    resolved_precision(device, spec.precision)  # refuses bf16 on a CPU without it
    if spec.batching in RETIRED_BATCHINGS:
        raise MbpError(
            f"batching {spec.batching!r} (one length sort per epoch) is retired: it cost dev "
            f"points; use {RETIRED_BATCHINGS[spec.batching]!r} (megabatches, docs/BENCHMARKS.md 11)"
        )
    if spec.batching not in BATCHINGS:
        raise MbpError(f"batching {spec.batching!r} is unknown: use one of {', '.join(BATCHINGS)}")
    if spec.optimizer not in OPTIMIZERS:
        raise MbpError(
            f"optimizer {spec.optimizer!r} is unknown: use one of {', '.join(OPTIMIZERS)}"
        )


@contextlib.contextmanager
def finetune_threads(device: torch.device, threads: int | None = None):
    """On CPU, train on `threads` (default `FINETUNE_THREADS`) intra-op threads, then restore."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(threads or FINETUNE_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def training_data(spec: FinetuneSpec, tokenizer, data_dir: str | None = None):
    """The encoded training examples a spec trains on (an `mbp.tasks.Encoded`)."""
    from mbp.tasks import complement, encode, get_task, load_examples, subsample

    task = get_task(spec.task)
    train = load_examples(spec.task, task.train_split, data_dir=data_dir)
    # Never train on the held-out 10% of train, so "heldout" stays a clean evaluation split
    # (the shared data has no MNLI dev file).
    train = complement(train, load_examples(spec.task, "heldout", data_dir=data_dir))
    if spec.train_examples:
        train = subsample(train, spec.train_examples, spec.seed)
    return encode(tokenizer, train, spec.max_length)


def initial_model(spec: FinetuneSpec, device: torch.device):
    """(model, tokenizer) a spec starts from: the pre-trained model with a new classifier seeded
    from the spec (whatever ran before in the process), its pruned heads removed."""
    from mbp.models import load_model
    from mbp.tasks import get_task

    task = get_task(spec.task)
    torch.manual_seed(_TORCH_START_SEED + spec.seed)  # the new classifier's initial weights
    labels = 1 if task.labels is None else len(task.labels)
    model, tokenizer = load_model(spec.model, num_labels=labels)
    if spec.pruned_heads:
        model = prune_heads(model, list(spec.pruned_heads))
    return model.to(device), tokenizer


def train(
    spec: FinetuneSpec,
    device: torch.device,
    *,
    data_dir: str | None = None,
    progress: bool = False,
    report_after_s: float = REPORT_AFTER_S,
) -> Trained:
    """Train the spec's model on the current thread setting (see `finetune_threads`); no
    checkpoint, no dev score. `finetune` is this plus both. With `progress`, a fine-tune still
    training after `report_after_s` seconds says its measured examples/s and time left, once."""
    from mbp.tasks import get_task

    check_recipe(spec, device)
    regression = get_task(spec.task).labels is None
    model, tokenizer = initial_model(spec, device)
    encoded = training_data(spec, tokenizer, data_dir)
    pad_id = tokenizer.pad_token_id or 0
    if spec.freeze_embeddings:
        # the word-embedding matrix (250k x 384 for e5-small) dominates the optimizer's work
        model.get_input_embeddings().weight.requires_grad_(False)
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    params = [
        {
            "params": [
                p
                for n, p in model.named_parameters()
                if p.requires_grad and not any(k in n for k in no_decay)
            ],
            "weight_decay": spec.weight_decay,
        },
        {
            "params": [
                p
                for n, p in model.named_parameters()
                if p.requires_grad and any(k in n for k in no_decay)
            ],
            "weight_decay": 0.0,
        },
    ]
    # frozen parameters are left out above: no optimiser state, no update work
    optimizer = torch.optim.AdamW(
        params, lr=spec.lr, fused=True if spec.optimizer == "adamw-fused" else None
    )
    steps_per_epoch = int(np.ceil(len(encoded.input_ids) / spec.batch_size))
    total = max(1, int(np.ceil(steps_per_epoch * spec.epochs)))
    scheduler = get_linear_schedule_with_warmup(optimizer, int(spec.warmup_ratio * total), total)
    start = time.perf_counter()
    model.train()
    label = f"fine-tune {spec.model} on {spec.task}"
    bar = tqdm(total=total, desc=label, disable=not progress)
    rate = TrainingRate(total, after_s=report_after_s) if progress else None
    step = 0
    batches = grouped_batches if spec.batching == "grouped" else _shuffled_batches
    while step < total:
        for batch in batches(encoded, spec.batch_size, pad_id, device, rng):
            with autocast(device, spec.precision):
                logits = model(**batch.inputs).logits.float()
            if regression:
                loss = F.mse_loss(logits[:, 0], batch.labels.float())
            else:
                loss = F.cross_entropy(logits, batch.labels.long())
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            line = rate.step(len(batch.labels)) if rate else None
            if line:
                tqdm.write(f"{label}: {line}", file=sys.stderr)  # above the bar, not through it
            if step >= total:
                break
    bar.close()
    model.eval()
    return Trained(model, tokenizer, len(encoded.input_ids), time.perf_counter() - start)


def _finetune(spec, torch_device, data_dir, dev_examples, progress) -> Checkpoint:
    from mbp.tasks import encode, get_task
    from mbp.tasks.scoring import scoring_examples

    task = get_task(spec.task)
    trained = train(spec, torch_device, data_dir=data_dir, progress=progress)
    start = time.perf_counter() - trained.train_seconds  # training + the dev score, as always
    model, tokenizer = trained.model, trained.tokenizer
    pad_id = tokenizer.pad_token_id or 0
    precision = spec.precision
    dev_split, dev = scoring_examples(spec.task, data_dir, dev_examples)
    scores = evaluate(
        model,
        encode(tokenizer, dev, spec.max_length),
        task,
        pad_id=pad_id,
        device=torch_device,
        precision=precision,
    )
    seconds = time.perf_counter() - start
    info = {
        "spec": spec.to_dict(),
        "key": spec.key,
        "metric": task.primary_metric,
        "dev_value": scores[task.primary_metric],
        "dev_scores": scores,
        "dev_split": dev_split,
        "dev_examples": len(dev.labels),
        "n_train": trained.n_train,
        "seconds": seconds,
        "train_seconds": trained.train_seconds,
        "threads": torch.get_num_threads(),  # the training's (see `finetune_threads`)
        "device": str(torch_device),
        "precision": precision,
    }
    _write_atomically(spec, model.cpu(), tokenizer, info)
    found = find_checkpoint(spec)
    assert found is not None
    return found


def _write_atomically(spec: FinetuneSpec, model, tokenizer, info: dict) -> None:
    target = checkpoint_dir(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        save_pruned(model, tmp)
        tokenizer.save_pretrained(str(tmp))
        info = {**info, "weights_sha256": weights_sha256(tmp)}
        (tmp / DONE_MARKER).write_text(json.dumps(info, indent=2, default=str))
        if target.exists():  # a stale, unfinished directory (no marker): replace it
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def weights_sha256(directory: Path) -> str:
    """sha256 of a checkpoint's weight files: what the model is, however it was made."""
    from mbp.models.checksum import weight_files
    from mbp.provenance import file_sha256

    digest = hashlib.sha256()
    for path in weight_files(Path(directory)):
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()
