"""One memory configuration in its own process, so each peak is separate from the others.

    python -m bench.memory_child --size mbert --batches 16,64 --data p16.npz,p64.npz

Builds the model, then for each batch size in turn (ascending) runs mbp's sweep path (runner
`_evaluate_heads`: structural pruning, length-sorted batches) over the given random-order cells
on that many pairs, and prints one JSON line: per phase the RSS before it, the peak RSS sampled
every 2 ms during it, the padded width of its batch; and ru_maxrss of the whole process. The
parent starts this through `sh -c` so that ru_maxrss is this process's own (a process exec'd
straight from a big parent inherits the parent's high-water mark).
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time

import numpy as np
import psutil


def load_pool(path: str):
    from mbp.tasks import Encoded

    data = np.load(path)
    flat, offsets = data["flat"], data["offsets"]
    ids = [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    return Encoded(input_ids=ids, token_type_ids=None, labels=data["labels"], ids=data["ids"])


def save_pool(encoded, path: str) -> None:
    offsets = np.cumsum([0] + [len(x) for x in encoded.input_ids])
    np.savez(
        path,
        flat=np.concatenate(encoded.input_ids),
        offsets=offsets,
        labels=np.asarray(encoded.labels),
        ids=np.asarray(encoded.ids),
    )


class PeakSampler(threading.Thread):
    def __init__(self, interval: float = 0.002) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.interval = interval
        self.peak = self.process.memory_info().rss
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=("e5", "mbert"), required=True)
    parser.add_argument("--batches", required=True, help="ascending, e.g. 16,64")
    parser.add_argument("--data", required=True, help="pool files, one per batch, comma-separated")
    parser.add_argument("--cells", default="0,0.9")
    args = parser.parse_args()

    from bench.common import e5_small_sized_config, lengths, mbert_base_config, random_model
    from bench.sweep import mbp_sweep
    from mbp.engine.device import use_all_cores
    from mbp.engine.layout import model_shape
    from mbp.engine.orders import heads_at_fraction, prune_order

    use_all_cores()
    config = e5_small_sized_config() if args.size == "e5" else mbert_base_config()
    pad_id = 1  # the e5 (XLM-R) tokenizer's pad id, used for both sizes
    model = random_model(config)
    layers, heads = model_shape(model)
    ranking = prune_order(None, "random", shape=(layers, heads))
    cells = [
        heads_at_fraction(ranking, float(f), layers=layers, heads=heads)
        for f in args.cells.split(",")
    ]
    phases = []
    for batch, path in zip(
        (int(b) for b in args.batches.split(",")), args.data.split(","), strict=True
    ):
        encoded = load_pool(path)
        rss_model = psutil.Process().memory_info().rss
        sampler = PeakSampler()
        sampler.start()
        t0 = time.perf_counter()
        mbp_sweep(model, encoded, pad_id, cells, batch_size=batch)
        seconds = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        seq = lengths(encoded)
        phases.append(
            {
                "batch": batch,
                "examples": len(seq),
                "width": int(seq.max()),  # the first (longest) batch is padded to this
                "rss_model": rss_model,
                "peak_sweep": sampler.peak,
                "seconds": seconds,
            }
        )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"size": args.size, "ru_maxrss": maxrss, "phases": phases}))


if __name__ == "__main__":
    main()
