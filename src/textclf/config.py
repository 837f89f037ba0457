"""Typed run configuration and the command line that fills it.

One `RunConfig` describes one training run. Fields left as None are filled from the
chosen model's defaults (`models.registry.run_defaults`, e.g. its learning rate), then the
dataset's (`DatasetSpec.defaults`), so each component owns its defaults and the resolved
config, written next to every result, has no None left that matters.
"""

import argparse
import dataclasses
import hashlib
import json
import math
import shlex

from textclf.errors import InputError

TOKENIZERS = ("auto", "word", "jieba", "char")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
TRUNCATIONS = ("pre", "post")
# What selection watches, and which way is better. The default is val_accuracy: on IMDB the LSTM's
# val_loss turned up at epoch 3 (overconfidence) while its val_accuracy rose until epoch 5.
MONITORS = {"val_accuracy": "max", "val_loss": "min"}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that decides what one run computes, plus where it writes."""

    dataset: str = "weibo"
    data_dir: str = "data/input"
    model: str = "stacked_lstm"
    epochs: int | None = None  # None: the dataset's default
    batch_size: int = 64  # per replica; the global batch is computed in training.devices
    max_len: int | None = None  # None: the dataset's default (IMDB 250, Weibo 180)
    vocab_size: int | None = None  # None: the dataset's default (10,000 like the originals)
    tokenizer: str = "auto"  # auto: jieba for Chinese datasets, word for English ones
    truncate: str | None = None  # pre: keep a long text's end, post: keep its start
    seed: int = 42
    devices: int | None = None  # None: every local GPU, or the default strategy on CPU
    precision: str = "auto"  # auto: mixed_float16 on GPU, float32 on CPU (faster there)
    learning_rate: float | None = None  # peak, for one replica, scaled by sqrt(replicas); None: the model's default
    warmup_ratio: float = 0.1  # share of all steps spent warming up to the peak rate
    clipnorm: float = 1.0  # without it the IMDB LSTM diverged (validation 0.82 -> 0.71); 0: no clipping
    ema_momentum: float | None = None  # > 0: validate, keep and serve the weights' moving average; None: the model's
    monitor: str = "val_accuracy"  # what selects the epoch and stops early; validation only, never test
    patience: int = 2  # epochs without a better `monitor` before early stopping
    val_fraction: float = 0.1  # carved from train when a dataset has no validation split
    test_fraction: float = 0.1  # carved from the data when a dataset has no test split
    embeddings: str | None = None  # GloVe or word2vec text file (.txt/.txt.gz) to start the embedding from
    freeze_embeddings: bool = False  # keep the pretrained vectors fixed
    max_samples: int | None = None  # cap every split, for smoke runs
    text_column: str | None = None
    label_column: str | None = None
    output_dir: str = "data/output"
    cache_dir: str = "data/cache"  # segmented Chinese text, keyed by a hash of the input

    def __post_init__(self):
        """Settings that are wrong together; each flag's own range is checked by the parser."""
        if self.val_fraction + self.test_fraction >= 1:
            raise InputError(
                f"--val-fraction {self.val_fraction} and --test-fraction {self.test_fraction} leave no training "
                "rows; together they must stay below 1"
            )

    def resolve(self, defaults: dict) -> "RunConfig":
        """Fills the None fields that `defaults` names; unknown keys fail loudly."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = set(defaults) - fields
        if unknown:
            raise ValueError(f"unknown config keys in defaults: {sorted(unknown)}")
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **filled)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Short hash of everything that decides the result (not where it is written)."""
        decisive = {k: v for k, v in self.to_dict().items() if k not in ("output_dir", "cache_dir")}
        return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:12]


def as_command(config: RunConfig) -> str:
    """The server_main command line that runs exactly `config` (fields at their defaults omitted)."""
    default = RunConfig()
    flags = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        flag = f"--{field.name.replace('_', '-')}"
        if value is True:
            flags.append(flag)
        elif value != getattr(default, field.name):
            flags += [flag, str(value)]
    return shlex.join(["python", "src/server_main.py", *flags])


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line and exit code 2, like every other bad input."""
        self.exit(2, f"error: {message} (see --help)\n")


def _at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = _at_least(1)
_seed = _at_least(0)  # numpy's seeds are unsigned
# TextVectorization reserves ids 0 (padding) and 1 (out of vocabulary): 3 is the first size with a word.
MIN_VOCAB_SIZE = 3


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_float(text: str) -> float:
    value = _float(text)
    if not 0 < value < math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be above 0 and finite, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = _float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _fraction(text: str) -> float:
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _momentum(text: str) -> float:
    value = _float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    d = RunConfig()
    p = _Parser(
        prog="server_main.py",
        description="Train a text classifier, pick its best epoch on validation, "
        "evaluate it on test and write a timestamped CSV report.",
    )
    add = p.add_argument
    add("--dataset", default=d.dataset,
        help="a dataset name (weibo, imdb, sst2, r8, chnsenticorp, online_shopping) or a CSV/TSV/JSONL/Parquet "
        "file; comma-separated for a matrix")
    add("--data-dir", default=d.data_dir, help="root holding one folder per dataset, or one dataset's folder")
    add("--model", default=d.model, help="a model name from the registry; comma-separated for a matrix")
    add("--epochs", type=_positive_int, help="maximum epochs (early stopping may end sooner)")
    add("--batch-size", type=_positive_int, default=d.batch_size, help="per replica")
    add("--max-len", type=_positive_int, help="tokens kept per text")
    add("--vocab-size", type=_at_least(MIN_VOCAB_SIZE),
        help="vocabulary size, learnt from train only, padding and out-of-vocabulary ids included")
    add("--tokenizer", choices=TOKENIZERS, default=d.tokenizer)
    add("--truncate", choices=TRUNCATIONS, help="pre keeps a long text's end, post its start")
    add("--seed", type=_seed, default=d.seed)
    add("--devices", type=_positive_int, help="use the first N GPUs; on CPU, split it into N logical devices")
    add("--precision", choices=PRECISIONS, default=d.precision)
    add("--learning-rate", type=_positive_float, help="peak rate for one replica (default: the model's, 1e-3 for most)")
    add("--warmup-ratio", type=_fraction, default=d.warmup_ratio)
    add("--clipnorm", type=_non_negative_float, default=d.clipnorm,
        help="clip each weight's gradient to this norm; 0 turns clipping off")
    add("--ema-momentum", type=_momentum,
        help="keep a moving average of the weights with this momentum (e.g. 0.99) and validate, save and serve "
        "it; 0 turns it off (default: the model's, 0.99 for stacked_lstm, 0 for the others)")
    add("--monitor", choices=MONITORS, default=d.monitor, help="validation metric that picks the best epoch")
    add("--patience", type=_positive_int, default=d.patience, help="epochs without improvement before stopping")
    add("--val-fraction", type=_fraction, default=d.val_fraction)
    add("--test-fraction", type=_fraction, default=d.test_fraction)
    add("--embeddings", help="GloVe or word2vec text file (.txt or .txt.gz) to initialise the embedding")
    add("--freeze-embeddings", action="store_true", help="keep the --embeddings vectors fixed during training")
    add("--max-samples", type=_positive_int, help="cap each split at N rows, for smoke runs")
    add("--text-column", help="text column of a user file (default: guessed)")
    add("--label-column", help="label column of a user file (default: guessed)")
    add("--output-dir", default=d.output_dir)
    add("--cache-dir", default=d.cache_dir)
    return p


def checked_setting(name: str, value, source: str):
    """`value` for the RunConfig field `name` from `source` (an experiment file), checked as its flag checks
    it: type, range and choices. None is kept where the field's default is None; a switch takes true/false.

    Raises:
        InputError: naming `source` and the setting, where the flag would refuse the value.
    """
    action = build_parser()._option_string_actions[f"--{name.replace('_', '-')}"]
    if (value is None and getattr(RunConfig, name) is None) or (action.nargs == 0 and isinstance(value, bool)):
        return value
    try:
        if action.nargs == 0 or isinstance(value, (bool, list, dict)) or value is None:
            raise argparse.ArgumentTypeError(f"{value!r} is not a valid value")
        checked = action.type(str(value)) if action.type else str(value)
    except argparse.ArgumentTypeError as err:
        raise InputError(f"{source}: {name}: {err}") from None
    if action.choices and checked not in action.choices:
        raise InputError(f"{source}: {name}: {checked!r} is not one of {', '.join(action.choices)}")
    return checked


@dataclasses.dataclass(frozen=True)
class Command:
    """A parsed command line: one run, or a matrix that `textclf.matrix` expands."""

    config: RunConfig  # `dataset` and `model` may hold comma-separated lists
    seeds: tuple[int, ...] | None  # --seeds: one run per seed
    experiment: str | None  # --experiment: a matrix file (experiments/*.yaml)
    given: frozenset[str]  # RunConfig fields set on the command line: they win over the file's


def _seed_list(text: str) -> tuple[int, ...]:
    return tuple(_seed(item) for item in text.split(","))


def parse_args(argv: list[str] | None = None) -> Command:
    parser = build_parser()
    parser.add_argument("--seeds", type=_seed_list, help="comma-separated seeds: one run each (a matrix)")
    parser.add_argument("--experiment", help="a matrix file such as experiments/imdb_table.yaml")
    args = vars(parser.parse_args(argv))
    seeds, experiment = args.pop("seeds"), args.pop("experiment")
    defaults = vars(parser.parse_args([]))
    given = frozenset(k for k, v in args.items() if v != defaults[k])
    try:
        config = RunConfig(**args)
    except InputError as err:
        parser.error(str(err))
    return Command(config, seeds, experiment, given)
