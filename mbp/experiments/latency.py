"""Measured latency of a run's structurally pruned models (`mbp latency RUN_ID`).

Each head set of the run's curve points is sliced out of the model (mbp.engine.prune) and timed
on one fixed batch of the run's own evaluated examples, interleaved with the unpruned model in
the same process (full, pruned / pruned, full / ...), so load drift hits both alike; the stored
figure is the median of the per-repeat ratios full / pruned, with its min and max, on the device
and precision recorded with it. Timed on the pre-trained weights with the task's head: weights
do not change the time, the structure does.

    rows = measure_run(store, run_id, data_dir=..., batch_size=32, repeats=7)
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime

from mbp.errors import MbpError


def measure_run(
    store,
    run_id: str,
    *,
    data_dir: str | None = None,
    fractions: tuple[float, ...] | None = None,
    batch_size: int = 32,
    repeats: int = 7,
    device: str = "auto",
    progress: bool = False,
) -> list[dict]:
    import torch
    from tqdm.auto import tqdm

    from mbp.engine.cost import parse_heads
    from mbp.engine.device import autocast, resolve_device, resolved_precision
    from mbp.engine.prune import prune_heads
    from mbp.models import load_model
    from mbp.spec import RunSpec
    from mbp.tasks import encode, get_task, load_examples, subsample

    if repeats < 3:
        raise MbpError(f"--repeats {repeats} is too few for a median and a spread: use 3 or more")
    if batch_size < 1:
        raise MbpError(f"--batch {batch_size} must be at least 1")
    runs = store.runs(run_id=run_id)
    if runs.empty:
        raise MbpError(f"no run {run_id!r} in {store.path}: `mbp runs` lists run ids")
    if runs.iloc[0]["kind"] != "sweep":
        raise MbpError(f"run {run_id!r} is a {runs.iloc[0]['kind']} run: time a sweep run")
    spec = RunSpec.from_dict(json.loads(runs.iloc[0]["spec_json"]))
    points = store.sql(
        "SELECT DISTINCT fraction, pruned_heads FROM curve_points WHERE run_id = ? "
        "ORDER BY fraction",
        [run_id],
    )
    if fractions is not None:
        points = points[points["fraction"].round(6).isin([round(f, 6) for f in fractions])]
    sets = [text for text in dict.fromkeys(points["pruned_heads"]) if parse_heads(text)]
    if not sets:
        raise MbpError(f"run {run_id!r} has no pruned head set to time at those fractions")

    task = get_task(spec.data.task)
    torch_device = resolve_device(device)
    precision = resolved_precision(torch_device, "auto")
    model, tokenizer = load_model(
        spec.model, num_labels=1 if task.labels is None else len(task.labels)
    )
    model.to(torch_device).eval()
    data = spec.data
    examples = load_examples(data.task, data.split, lang=data.lang, data_dir=data_dir)
    encoded = encode(tokenizer, subsample(examples, data.n_examples, data.seed), data.max_length)
    ids = encoded.input_ids[:batch_size]
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id or 0
    input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    batch = {"input_ids": input_ids.to(torch_device), "attention_mask": mask.to(torch_device)}

    def seconds(net) -> float:
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad(), autocast(torch_device, precision):
            net(**batch)
        if torch_device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    rows = []
    for text in tqdm(sets, desc=f"latency {run_id}", disable=not progress):
        pruned = prune_heads(model, parse_heads(text))
        seconds(model), seconds(pruned)  # warm-up
        full_t, pruned_t = [], []
        for r in range(repeats):
            pair = (model, pruned) if r % 2 == 0 else (pruned, model)
            a, b = seconds(pair[0]), seconds(pair[1])
            f, p = (a, b) if r % 2 == 0 else (b, a)
            full_t.append(f)
            pruned_t.append(p)
        ratios = [f / p for f, p in zip(full_t, pruned_t, strict=True)]
        rows.append(
            {
                "pruned_heads": text,
                "device": torch_device.type,
                "precision": precision,
                "batch_size": len(ids),
                "seq_len": width,
                "repeats": repeats,
                "ms_full": statistics.median(full_t) * 1000,
                "ms_pruned": statistics.median(pruned_t) * 1000,
                "speedup": statistics.median(ratios),
                "speedup_min": min(ratios),
                "speedup_max": max(ratios),
                "measured_at": datetime.now(UTC).replace(tzinfo=None),
            }
        )
    store.write_latency(run_id, rows)
    return rows
