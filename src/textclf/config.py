"""Typed run configuration and the command line that fills it.

One `RunConfig` describes one training run. Fields left as None are filled from the
chosen model's defaults (`models.registry.run_defaults`, e.g. its learning rate), then the
dataset's (`DatasetSpec.defaults`), so each component owns its defaults and the resolved
config, written next to every result, has no None left that matters.

Each field carries its flag (help, value check, choices) in its metadata, and the command line is
generated from the fields, so a new field cannot be left out of the parser, and experiment files
(`checked_setting`) check their values with the same functions.
"""

import argparse
import dataclasses
import hashlib
import json
import math
import shlex
from collections.abc import Mapping
from pathlib import Path

import yaml

from textclf.errors import InputError

TOKENIZERS = ("auto", "word", "jieba", "char")
PEFT_METHODS = ("prompt", "ptuning")  # families/encoder/prompts.py; LoRA is --lora-rank
# --objective -> its own settings and the values they take unset (training/objectives.py). 4: the R-Drop paper's
# GLUE value; 0.07 and 0.2: the original IMDB project's.
OBJECTIVES = {"ce": {}, "rdrop": {"rdrop_alpha": 4.0}, "supcon": {"supcon_temperature": 0.07, "supcon_alpha": 0.2}}
# --teacher's loss settings, when unset (training/distillation.py).
DISTILLATION = {"distil_alpha": 0.5, "distil_temperature": 2.0}
# The settings of a distillation, which a run without --teacher refuses.
DISTILLATION_SETTINGS = ("distil_alpha", "distil_temperature", "unlabeled", "augment")
TEXT_FILTERS = ("emoticons", "html")  # data/filters.py
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")
TUNERS = ("random", "bayesian", "hyperband")  # --tuner: KerasTuner's oracles (textclf.tuning.search)
# pre/post: the from-scratch models' cut (pre keeps a text's end). head/tail/head_tail: the encoders' subword
# cut; an encoder reads pre as tail and post as head (the datasets' defaults are pre/post).
TRUNCATIONS = ("pre", "post", "head", "tail", "head_tail")
# What selection watches, and which way is better. The default is val_accuracy: on IMDB the LSTM's
# val_loss turned up at epoch 3 (overconfidence) while its val_accuracy rose until epoch 5.
MONITORS = {"val_accuracy": "max", "val_loss": "min"}
# TextVectorization reserves ids 0 (padding) and 1 (out of vocabulary): 3 is the first size with a word.
MIN_VOCAB_SIZE = 3
# Fields added after runs were made: left at their default, they stay out of the fingerprint, so that the runs made
# before them keep their key and resume. A new field goes here.
LATER_FIELDS = ("model_args", "preset", "lora_rank", "lora_alpha", "weight_decay", "eval_datasets", "text_filter",
                "class_weight", "calibrate", "grad_accum", "remat", "objective", "rdrop_alpha", "supcon_alpha",
                "supcon_temperature", "peft", "virtual_tokens", "prompt_init", "recipe", "prompt_template", "head",
                "keep_best", "strategy", "deterministic", "teacher", "distil_alpha", "distil_temperature", "unlabeled",
                "augment")


def at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


_positive_int = at_least(1)
_seed = at_least(0)  # numpy's seeds are unsigned


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


def _share(text: str) -> float:
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
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


def _number_if_numeric(value):
    """`value`, with a string that is a number (YAML 1.1 reads `1e-6`, without a dot, as a string) as that float."""
    if isinstance(value, list):
        return [_number_if_numeric(item) for item in value]
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _model_arg(text: str) -> tuple[str, object]:
    """KEY=VALUE, the value read as a YAML scalar or list (50, 0.3, 1e-6, [2, 3, 4], true, a word)."""
    key, equals, value = text.partition("=")
    if not equals or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE such as embedding_dim=50, got {text!r}")
    try:
        return key.strip(), _number_if_numeric(yaml.safe_load(value))
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"{key.strip()}: {value!r} is not a YAML value") from None


def split_names(text: str) -> list[str]:
    """The names of a comma-separated list; an existing file is one name, whatever commas its name holds."""
    if text.strip() and Path(text).exists():  # "" would be ".", which exists
        return [text]
    return [name.strip() for name in text.split(",") if name.strip()]


def _name_list(text: str) -> str:
    """Comma-separated names, each given once: `a, b` -> `a,b`."""
    names = split_names(text)
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"a name is given twice in {text!r}")
    return ",".join(names)


def _setting(default, help: str | None = None, *, type=None, choices=None):
    """A RunConfig field with its flag: `type` checks and converts the flag's text, as argparse's does."""
    return dataclasses.field(default=default, metadata={"help": help, "type": type, "choices": choices})


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that decides what one run computes, plus where it writes."""

    dataset: str = _setting("weibo", "a dataset name (weibo, imdb, sst2, r8, chnsenticorp, online_shopping) or a "
                            "CSV/TSV/JSONL/Parquet file; comma-separated for a matrix")
    data_dir: str = _setting("data/input", "root holding one folder per dataset, or one dataset's folder")
    model: str = _setting("stacked_lstm", "a model name from the registry; comma-separated for a matrix")
    # None: the dataset's default
    epochs: int | None = _setting(None, "maximum epochs (early stopping may end sooner; unset, the dataset's); 0 with "
                                  "--model llm --head label_words: evaluate the preset as it is (zero-shot)",
                                  type=at_least(0))
    # per replica; the global batch is computed in training.devices
    batch_size: int = _setting(64, "per replica", type=_positive_int)
    grad_accum: int = _setting(1, "average the gradients of K batches per optimizer update: --grad-accum 4 "
                               "--batch-size 16 trains as --batch-size 64 in the memory of 16", type=_positive_int)
    max_len: int | None = _setting(None, "tokens kept per text; unset, the model's or else the dataset's",
                                   type=_positive_int)
    vocab_size: int | None = _setting(
        None, "vocabulary size, learnt from train only, padding and out-of-vocabulary ids included; unset, the "
        "model's or else the dataset's", type=at_least(MIN_VOCAB_SIZE))
    tokenizer: str = _setting("auto", choices=TOKENIZERS)  # auto: jieba for Chinese datasets, word for English
    truncate: str | None = _setting(
        None, "pre keeps a long text's end, post its start; encoders also take head, tail (= post, pre) and "
        "head_tail (a quarter of --max-len from the start, the rest from the end); unset, the model's or else the "
        "dataset's", choices=TRUNCATIONS)
    seed: int = _setting(42, type=_seed)
    # None: every local GPU, or the default strategy on CPU
    devices: int | None = _setting(None, "use the first N GPUs; on CPU, split it into N logical devices",
                                   type=_positive_int)
    strategy: str = _setting(
        "auto", "auto: multi_worker when TF_CONFIG names more than one task, else MirroredStrategy over the GPUs or "
        "the --devices, else the default one-device strategy; multi_worker: MultiWorkerMirroredStrategy over the "
        "TF_CONFIG cluster, every worker running the same command and the chief writing the run", choices=STRATEGIES)
    precision: str = _setting("auto", choices=PRECISIONS)  # auto: mixed_float16 on GPU, float32 on CPU (faster)
    # peak, for one replica, scaled by sqrt(replicas); None: the model's default
    learning_rate: float | None = _setting(
        None, "peak rate for one replica", type=_positive_float)
    warmup_ratio: float = _setting(0.1, type=_fraction)  # share of all steps spent warming up to the peak rate
    # without it the IMDB LSTM diverged (validation 0.82 -> 0.71); 0: no clipping
    clipnorm: float = _setting(1.0, "clip each weight's gradient to this norm; 0 turns clipping off",
                               type=_non_negative_float)
    ema_momentum: float | None = _setting(
        None, "keep a moving average of the weights with this momentum (e.g. 0.99) and validate, save and serve "
        "it; 0 turns it off", type=_momentum)
    # validation only, never test
    monitor: str = _setting("val_accuracy", "validation metric that picks the best epoch", choices=MONITORS)
    patience: int = _setting(2, "epochs without improvement before stopping", type=_positive_int)
    keep_best: int = _setting(1, "also keep the weights of the K best epochs by --monitor in the run's checkpoints/ "
                              "folder, deleting the others as training goes (test uses the best)", type=_positive_int)
    val_fraction: float = _setting(0.1, type=_fraction)  # carved from train when a dataset has no validation split
    test_fraction: float = _setting(0.1, type=_fraction)  # carved from the data when a dataset has no test split
    embeddings: str | None = _setting(None, "GloVe or word2vec text file (.txt or .txt.gz) to initialise the "
                                      "embedding")
    freeze_embeddings: bool = _setting(False, "keep the --embeddings vectors fixed during training")
    # The builder's own settings, e.g. {"embedding_dim": 50}; a key its builder does not take is an error.
    model_args: dict = dataclasses.field(default_factory=dict, metadata={
        "help": "a setting of the model's builder, e.g. embedding_dim=50 or kernel_sizes=[2,3,4] (repeatable)",
        "type": _model_arg, "choices": None})
    preset: str | None = _setting(None, "an encoder's weights and tokenizer: a keras-hub preset name, a Keras preset "
                                  "folder or a Hugging Face folder (config.json, model.safetensors)")
    lora_rank: int | None = _setting(None, "train rank-R LoRA adapters on the encoder's attention (and the head) "
                                     "instead of every weight", type=_positive_int)
    lora_alpha: float | None = _setting(None, "LoRA scale alpha (the update is scaled by alpha / rank; "
                                        "default: the rank)", type=_positive_float)
    weight_decay: float | None = _setting(None, "AdamW weight decay of the pretrained models",
                                          type=_non_negative_float)
    peft: str | None = _setting(
        None, "encoders: prompt (prompt tuning: trainable vectors in place of --virtual-tokens tokens before the text) "
        "or ptuning (P-tuning: the same vectors put out by a small trainable MLP over learnt seeds); the encoder "
        "is frozen, the head trains", choices=PEFT_METHODS)
    virtual_tokens: int | None = _setting(None, "--peft: the soft prompt's length, in tokens on top of --max-len",
                                          type=_positive_int)
    prompt_init: str | None = _setting(None, "--peft prompt: start the vectors from the embeddings of this text's "
                                       "tokens, repeated to fill them (default: at random)")
    prompt_template: str | None = _setting(
        None, "--model llm: the prompt around each text, holding {text} once and {labels} where the class names go "
        "(comma-separated)")
    head: str | None = _setting(
        None, "--model llm: mlp (the original's 512 -> 256 -> classes on the last token) or label_words (the "
        "LM head's rows of each class name's first token, as one trained linear layer)", choices=("mlp", "label_words"))
    remat: bool = _setting(False, "encoders and --model llm: gradient checkpointing, each transformer block's forward "
                           "run again in the backward pass: less activation memory for about a third more compute")
    deterministic: bool = _setting(False, "TensorFlow's deterministic kernels (op determinism): the same command "
                                   "gives the same metrics on the same machine, at a speed cost (BENCHMARKS.md)")
    objective: str = _setting(
        "ce", "the training loss: ce (cross-entropy); rdrop (R-Drop: two dropout passes, cross-entropy on both and the "
        "KL divergence between them); supcon (cross-entropy plus a supervised contrastive loss on the pooled "
        "features)", choices=tuple(OBJECTIVES))
    rdrop_alpha: float | None = _setting(None, "--objective rdrop: weight of the KL term", type=_non_negative_float)
    supcon_alpha: float | None = _setting(None, "--objective supcon: weight of the contrastive loss",
                                          type=_non_negative_float)
    # not --temperature: the report's `temperature` column is calibration's
    supcon_temperature: float | None = _setting(None, "--objective supcon: temperature of the contrastive loss",
                                                type=_positive_float)
    teacher: str | None = _setting(
        None, "knowledge distillation: a finished run folder (any model) whose probabilities this from-scratch model "
        "learns beside the gold labels; its classes are the dataset's and it never trained on this run's test texts")
    distil_alpha: float | None = _setting(
        None, "--teacher: the gold labels' share of the loss; the rest is the KL divergence from the teacher's "
        "softened probabilities", type=_share)
    distil_temperature: float | None = _setting(None, "--teacher: the temperature both models' probabilities are "
                                                "softened at in the loss", type=_positive_float)
    unlabeled: str | None = _setting(
        None, "--teacher: texts without labels that the teacher labels for the student: a table (CSV, TSV, JSON "
        "Lines, Parquet) with a column named text, review, sentence, content or comment")
    augment: int = _setting(0, "--teacher: K augmented copies of each training text (words masked or replaced, "
                            "texts cut to an n-gram) that the teacher labels for the student", type=at_least(0))
    calibrate: str | None = _setting(
        None, "temperature: divide the logits by one temperature fitted on the validation split, so that the "
        "probabilities match how often the model is right; predictions never change (default); none",
        choices=("temperature", "none"))
    class_weight: str | None = _setting(
        None, "balanced: weigh each class's rows in the training loss by rows / (classes x its rows), so that a "
        "rare class counts as much as a common one (default: none, every row 1)", choices=("none", "balanced"))
    text_filter: str | None = _setting(
        None, "remove this from every text, in training, evaluation and serving alike (inside the exported model): "
        "emoticons (Weibo's bracketed [哈哈], [泪], ...), html (tags such as IMDB's <br />)",
        choices=TEXT_FILTERS)
    eval_datasets: str | None = _setting(
        None, "after test, also evaluate the selected model on these datasets' test splits (comma-separated "
        "names, or labelled files: all their rows); the report gains eval_<name>_accuracy and eval_<name>_macro_f1",
        type=_name_list)
    max_samples: int | None = _setting(None, "cap each split at N rows, for smoke runs", type=_positive_int)
    text_column: str | None = _setting(None, "text column of a user file (default: guessed)")
    label_column: str | None = _setting(None, "label column of a user file (default: guessed)")
    recipe: str | None = _setting(None, "a name for this run's way of training, shown in its report and, beside the "
                                  "model, in a matrix's leaderboard (an experiment's `recipes` name theirs)")
    output_dir: str = _setting("data/output")
    cache_dir: str = _setting("data/cache")  # segmented Chinese text, keyed by a hash of the input

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
        default = RunConfig().to_dict()
        for name in LATER_FIELDS:  # so runs from before these fields keep their key and resume
            if decisive[name] == default[name]:
                del decisive[name]
        return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:12]


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def as_command(config: RunConfig) -> str:
    """The server_main command line that runs exactly `config` (fields at their defaults omitted)."""
    return shlex.join(["python", "src/server_main.py", *command_flags(config)])


def command_flags(config: RunConfig) -> list[str]:
    """server_main's flags that set exactly `config` (fields at their defaults omitted)."""
    default = RunConfig()
    flags = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "model_args":
            for key, item in value.items():  # JSON is YAML, as --model-arg reads it
                flags += ["--model-arg", f"{key}={json.dumps(item)}"]
        elif value is True:
            flags.append(_flag(field.name))
        elif value != getattr(default, field.name):
            flags += [_flag(field.name), str(value)]
    return flags


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        """One line and exit code 2, like every other bad input."""
        self.exit(2, f"error: {message} (see --help)\n")


def objective_defaults() -> dict[str, str]:
    """Each objective's and distillation's loss setting -> what it takes unset, as --help says it."""
    return {name: f"{value:g}" for settings in (*OBJECTIVES.values(), DISTILLATION) for name, value in settings.items()}


def build_parser(defaults: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """Every RunConfig field as a flag; an option not given is left out of the parsed namespace (SUPPRESS),
    so what was given is known, not guessed from values equal to the defaults.

    Args:
        defaults: field -> what it becomes when unset, decided above this module (a model's learning rate, a
            family's soft-prompt length), added to the field's help as "(default: ...)"; the objectives' own
            settings are added here.
    """
    defaults = {**objective_defaults(), **(defaults or {})}
    p = OneLineParser(
        prog="server_main.py",
        description="Train a text classifier, pick its best epoch on validation, "
        "evaluate it on test and write a timestamped CSV report.",
        argument_default=argparse.SUPPRESS,
    )
    for field in dataclasses.fields(RunConfig):
        meta = dict(field.metadata)
        if field.name in defaults:
            text = defaults[field.name].replace("%", "%%")  # argparse formats help with %
            meta["help"] = f"{meta['help'] or ''} (default: {text})".lstrip()
        if field.name == "model_args":
            p.add_argument("--model-arg", dest="model_args", action="append", type=meta["type"],
                           metavar="KEY=VALUE", help=meta["help"])
        elif field.type is bool:
            p.add_argument(_flag(field.name), action="store_true", help=meta["help"])
        else:
            p.add_argument(_flag(field.name), type=meta["type"], choices=meta["choices"], help=meta["help"])
    return p


def checked_setting(name: str, value, source: str):
    """`value` for the RunConfig field `name` from `source` (an experiment file), checked as its flag checks
    it: type, range and choices. None is kept where the field's default is None; a switch takes true/false;
    `model_args` takes a mapping of setting names to values.

    Raises:
        InputError: naming `source` and the setting, where the flag would refuse the value.
    """
    field = {f.name: f for f in dataclasses.fields(RunConfig)}[name]
    if name == "model_args":
        if not isinstance(value, dict) or not all(isinstance(key, str) and key.isidentifier() for key in value):
            raise InputError(f"{source}: model_args: expected a mapping of setting names to values, got {value!r}")
        return {key: _number_if_numeric(item) for key, item in value.items()}
    if (value is None and field.default is None) or (field.type is bool and isinstance(value, bool)):
        return value
    parse, choices = field.metadata["type"] or str, field.metadata["choices"]
    try:
        if field.type is bool or isinstance(value, (bool, list, dict)) or value is None:
            raise argparse.ArgumentTypeError(f"{value!r} is not a valid value")
        checked = parse(str(value))
    except argparse.ArgumentTypeError as err:
        raise InputError(f"{source}: {name}: {err}") from None
    if choices and checked not in choices:
        raise InputError(f"{source}: {name}: {checked!r} is not one of {', '.join(choices)}")
    return checked


def saved_config(saved, source: str) -> RunConfig:
    """The RunConfig a run folder's config.json (`saved`, read from `source`) records, each value checked as its
    flag checks it; keys of other versions are left out.

    Raises:
        InputError: not a mapping naming its dataset and data folder, or a value its flag would refuse.
    """
    if not isinstance(saved, dict) or not all(isinstance(saved.get(key), str) for key in ("dataset", "data_dir")):
        raise InputError(f"{source}: not a run's config (a JSON object naming its dataset and data_dir)")
    fields = {field.name for field in dataclasses.fields(RunConfig)}
    return RunConfig(**{key: checked_setting(key, value, source) for key, value in saved.items() if key in fields})


@dataclasses.dataclass(frozen=True)
class Command:
    """A parsed command line: one run, or a matrix that `textclf.matrix` expands."""

    config: RunConfig  # `dataset` and `model` may hold comma-separated lists
    seeds: tuple[int, ...] | None  # --seeds: one run per seed
    experiment: str | None  # --experiment: a matrix file (experiments/*.yaml)
    given: frozenset[str]  # RunConfig fields set on the command line: they win over the file's
    emit_jobs: str | None = None  # --emit-jobs: write a job manifest per run into this folder instead of training
    job_template: str | None = None  # --job-template: the manifest each job is written from (None: `jobs.TEMPLATES`)
    tune: int | None = None  # --tune: search the settings in this many trials first (`textclf.tuning`)
    tuner: str = "random"  # --tuner: the search's oracle
    tune_space: str | None = None  # --tune-space: a YAML file that changes the model's default search space
    tune_parallel: int = 1  # --tune-parallel: trials at once, each in a process of its own on its own GPUs
    tune_budget: float | None = None  # --tune-budget: minutes after which no trial starts


def _each_once(seeds: tuple[int, ...]) -> tuple[int, ...]:
    """`seeds`, refused with one given twice: it would train once and count twice in the leaderboard."""
    if twice := sorted({seed for seed in seeds if seeds.count(seed) > 1}):
        raise argparse.ArgumentTypeError(f"{twice[0]} is given twice")
    return seeds


def _seed_list(text: str) -> tuple[int, ...]:
    return _each_once(tuple(_seed(item) for item in text.split(",")))


def checked_seeds(values: list, source: str) -> tuple[int, ...]:
    """An experiment file's seed axis, checked as `--seeds` checks it.

    Raises:
        InputError: naming `source`, where `--seeds` would refuse the values.
    """
    seeds = tuple(checked_setting("seed", value, source) for value in values)
    try:
        return _each_once(seeds)
    except argparse.ArgumentTypeError as err:
        raise InputError(f"{source}: seed: {err}") from None


def parse_args(argv: list[str] | None = None, defaults: Mapping[str, str] | None = None) -> Command:
    """The command line as a `Command`; `defaults` as `build_parser` takes them (for --help)."""
    parser = build_parser(defaults)
    parser.add_argument("--seeds", type=_seed_list, help="comma-separated seeds: one run each (a matrix)")
    parser.add_argument("--experiment", help="a matrix file such as experiments/imdb_table.yaml")
    parser.add_argument("--emit-jobs", metavar="DIR", help="train nothing: write one Kubernetes job manifest per "
                        "run (each cell of a matrix) into DIR, for a cluster to run")
    parser.add_argument("--job-template", metavar="YAML", help="--emit-jobs: the manifest each job is written from, "
                        "a TFJob or a JobSet whose containers' --data-dir and --output-dir every job keeps "
                        "(default deploy/tfjob.yaml; with --tune, deploy/tune_jobset.yaml)")
    parser.add_argument("--tune", type=_positive_int, metavar="N", help="first search the model's settings in N "
                        "trials scored on validation (the test split unread), then train the best over --seeds; all "
                        "in one tune_<stamp> folder (docs/tuning.md)")
    parser.add_argument("--tuner", choices=TUNERS, help="--tune's search: random, bayesian (a Gaussian process) or "
                        "hyperband (many short trials, the best trained longer) (default: random)")
    parser.add_argument("--tune-space", metavar="YAML", help="--tune: ranges that replace, add to or (null) remove "
                        "the model's default ones (docs/tuning.md)")
    parser.add_argument("--tune-parallel", type=_positive_int, metavar="K", help="--tune: K trials at once, each "
                        "in a worker process on its own share of the GPUs (default: 1)")
    parser.add_argument("--tune-budget", type=_positive_float, metavar="MINUTES", help="--tune: start no trial "
                        "after this many minutes (default: none)")
    args = vars(parser.parse_args(argv))
    seeds, experiment = args.pop("seeds", None), args.pop("experiment", None)
    emit_jobs, job_template = args.pop("emit_jobs", None), args.pop("job_template", None)
    tune, tuner, tune_space = args.pop("tune", None), args.pop("tuner", None), args.pop("tune_space", None)
    tune_parallel, tune_budget = args.pop("tune_parallel", None), args.pop("tune_budget", None)
    if job_template is not None and emit_jobs is None:
        parser.error("--job-template goes with --emit-jobs")
    if (tuner or tune_space or tune_parallel or tune_budget) and tune is None:
        parser.error("--tuner, --tune-space, --tune-parallel and --tune-budget go with --tune")
    if "model_args" in args:
        args["model_args"] = dict(args["model_args"])  # a key given twice: the last one wins
    try:
        config = RunConfig(**args)
    except InputError as err:
        parser.error(str(err))
    return Command(config, seeds, experiment, frozenset(args), emit_jobs, job_template, tune,
                   tuner or Command.tuner, tune_space, tune_parallel or Command.tune_parallel, tune_budget)
