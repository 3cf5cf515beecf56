"""A run's command-line flags and how they become `RunParams`: one definition, used by the CLI
to parse a command and by the plan to read the commands stored runs were made with.

    params = parse_command("mbp sweep --model minilm-l6 --task sst2 --grid 0,0.5")[1]

Every flag's default is None ("not given"), so RunParams' own defaults apply and --help shows
them; each value is checked by RunParams, wherever it came from.
"""

from __future__ import annotations

import argparse
import shlex

from mbp.engine.grid import DEFAULT_GRID_TEXT
from mbp.engine.names import ESTIMATORS, ORDERS
from mbp.errors import MbpError
from mbp.experiments.params import FinetuneParams, RunParams, default_of

RUN_COMMANDS = ("sweep", "layers", "importance")


def add_run_flags(p: argparse.ArgumentParser, command: str) -> None:
    """The flags of RunParams; their defaults are RunParams' own (shown in --help)."""
    d = default_of
    p.add_argument("--model", required=True, help="registry name (`mbp models`) or local folder")
    p.add_argument("--task", required=True, help="cola sst2 mrpc qqp stsb mnli qnli rte xnli")
    p.add_argument(
        "--lang",
        nargs="+",
        help="languages, e.g. en de or en,de; 'all' = every language "
        "of the task (`mbp tasks` lists them); default en",
    )
    p.add_argument("--split", help="evaluation split (default: the task's dev)")
    p.add_argument("--examples", help=f"evaluated examples per language (default {d('examples')})")
    p.add_argument("--data-seed", help="seed of the example subset (default 0)")
    p.add_argument(
        "--importance-examples",
        help=f"held-out examples heads are scored on (default {d('importance_examples')})",
    )
    p.add_argument("--estimator", help=f"{' | '.join(ESTIMATORS)} (default {d('estimator')})")
    p.add_argument("--normalize", action="store_true", default=None, help="L2-normalise per layer")
    p.add_argument("--device", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument(
        "--precision",
        help="auto | fp32 | bf16 (CUDA, or a CPU with native bf16) | fp16 (CUDA); "
        "default auto (fp32 on CPU)",
    )
    p.add_argument("--batch-size", help=f"evaluation batch size (default {d('batch_size')})")
    p.add_argument("--force", action="store_true", help="recompute finished cells")
    if command in ("sweep", "layers"):
        p.add_argument(
            "--protocol",
            help="posthoc (default: prune the fine-tuned model, Michel et al. 2019) | retrain "
            "(the paper's: remove the heads from the pre-trained model, then fine-tune)",
        )
        p.add_argument(
            "--stop-if-weak",
            action="store_true",
            help="retrain: stop before any cell when the unpruned reference scores within 5 "
            "points of the majority class (each cell costs a fine-tune)",
        )
        p.add_argument(
            "--keep-checkpoints",
            action="store_true",
            help="retrain: keep each cell's fine-tuned checkpoint (default: deleted once its "
            "numbers are stored; the unpruned reference is always kept)",
        )
    if command == "layers":
        p.add_argument(
            "--targets", help="all (default: each layer and the bottom/middle/top thirds) | thirds"
        )
    if command == "sweep":
        p.add_argument(
            "--order",
            nargs="+",
            help=f"{' '.join(ORDERS)} (default importance; e.g. importance,random)",
        )
        p.add_argument(
            "--seeds", nargs="+", help="random-order seeds, e.g. 0 1 2 or 0,1,2 (default)"
        )
        p.add_argument(
            "--grid", help=f"fractions: 0,0.3,0.6 or start:stop:step (default {DEFAULT_GRID_TEXT})"
        )
        p.add_argument("--floor", help="keep at least this many heads per layer (default 0)")
    add_finetune_flags(p)


def add_executor_flags(p: argparse.ArgumentParser) -> None:
    """Where cells are computed: not part of a run (results are the same everywhere)."""
    g = p.add_argument_group("executor (docs/CLUSTER.md)")
    g.add_argument("--executor", default="local", help="local (default: this process) | ray")
    g.add_argument(
        "--ray-address",
        default="local",
        help="local (default: start Ray on this machine's cores) | auto (join the running "
        "cluster) | ray://host:port",
    )
    g.add_argument("--workers", default="0", help="Ray workers (default 0: as many as fit)")
    g.add_argument("--cpus-per-worker", default="1", help="CPUs per Ray worker (default 1)")
    g.add_argument(
        "--gpus-per-worker", default="0", help="GPUs per Ray worker; fractions share a GPU"
    )


def executor_from_args(args):
    """The executor the flags ask for (Ray is imported only for `--executor ray`)."""
    from mbp.experiments.executor import make_executor

    return make_executor(
        args.executor,
        address=args.ray_address,
        workers=_number("workers", args.workers),
        cpus_per_worker=_number("cpus_per_worker", args.cpus_per_worker),
        gpus_per_worker=_number("gpus_per_worker", args.gpus_per_worker),
    )


def executor_argv(args) -> list[str]:
    """The executor flags again, for a subprocess (`mbp precompute` runs its steps so)."""
    out = []
    for flag in ("executor", "ray_address", "workers", "cpus_per_worker", "gpus_per_worker"):
        out += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return out


def add_finetune_flags(p: argparse.ArgumentParser) -> None:
    d = default_of
    g = p.add_argument_group("fine-tuning (done first when no checkpoint exists)")
    g.add_argument("--no-finetune", action="store_true", help="use the model as it is")
    g.add_argument(
        "--checkpoint", help="a stored checkpoint id to evaluate (`mbp runs --checkpoints`)"
    )
    g.add_argument("--train-examples", help="training examples, 0 = the whole split (default 0)")
    g.add_argument("--epochs", help=f"default {d('epochs'):g}")
    g.add_argument("--lr", help=f"learning rate (default {d('lr'):g})")
    g.add_argument("--train-batch-size", help="default 32")
    g.add_argument("--max-length", help="tokens per example (default 128)")
    g.add_argument("--train-seed", help="default 0")
    g.add_argument(
        "--freeze-embeddings", action="store_true", default=None, help="keep word embeddings fixed"
    )


_RUN_FIELDS = {
    "lang": "langs",
    "split": "split",
    "examples": "examples",
    "data_seed": "data_seed",
    "importance_examples": "importance_examples",
    "estimator": "estimator",
    "normalize": "normalize",
    "order": "orders",
    "seeds": "seeds",
    "grid": "grid",
    "floor": "floor",
    "device": "device",
    "precision": "precision",
    "batch_size": "batch_size",
    "protocol": "protocol",
    "targets": "targets",
}
_FINETUNE_FIELDS = {
    "checkpoint": "checkpoint",
    "train_examples": "train_examples",
    "epochs": "epochs",
    "lr": "lr",
    "train_batch_size": "batch_size",
    "max_length": "max_length",
    "train_seed": "seed",
    "freeze_embeddings": "freeze_embeddings",
}
_INTS = {"examples", "data_seed", "importance_examples", "floor", "batch_size", "train_examples",
         "train_batch_size", "max_length", "train_seed"}  # fmt: skip
_INTS |= {"workers"}  # an executor flag (not a run parameter), parsed the same way
_FLOATS = {"epochs", "lr", "cpus_per_worker", "gpus_per_worker"}


def _number(flag: str, text: str):
    """A flag's text as the number its field takes (the field then checks its range)."""
    kind = int if flag in _INTS else float
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise MbpError(
            f"--{flag.replace('_', '-')} {text!r} is not {what}: see `mbp --help`"
        ) from None


def _given(args, names: dict[str, str]) -> dict:
    """The fields the user set (None = not given: the dataclass default applies)."""
    out = {}
    for flag, field_name in names.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        out[field_name] = _number(flag, value) if flag in _INTS | _FLOATS else value
    return out


def finetune_params(args) -> FinetuneParams:
    return FinetuneParams(enabled=not args.no_finetune, **_given(args, _FINETUNE_FIELDS))


def run_params(args) -> RunParams:
    """RunParams from parsed flags: the one place a command's flags become a run's parameters."""
    return RunParams(
        model=args.model,
        task=args.task,
        finetune=finetune_params(args),
        **_given(args, _RUN_FIELDS),
    )


def parse_command(text: str) -> tuple[str, RunParams] | None:
    """(command, RunParams) of a recorded `mbp sweep|layers|importance ...` command line; None
    for any other command or one whose flags are no longer valid."""
    try:
        args = shlex.split(text)
    except ValueError:
        return None
    if args[:1] == ["mbp"]:
        args = args[1:]
    if not args or args[0] not in RUN_COMMANDS:
        return None
    parser = argparse.ArgumentParser(prog=f"mbp {args[0]}", add_help=False)
    add_run_flags(parser, args[0])
    try:
        known, _ = parser.parse_known_args(args[1:])
        return args[0], run_params(known)
    except (MbpError, SystemExit):
        return None
