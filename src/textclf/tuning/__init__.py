"""`--tune N`: search a model's settings on the validation split (`search.py`, on KerasTuner), then train the best over
`--seeds` and report them as matrix cells.

A search space maps a setting to its range. The setting is a RunConfig field (`learning_rate`) or one of the model's
own (`model_args.dropout`); the range is one of
    {"choice": [v1, v2, ...]}                           one of the values
    {"float": [low, high], "step": s, "log": true}      a number in [low, high] (step and log optional)
    {"int": [low, high], "step": s}                     a whole number in [low, high]
    {"times": [f1, f2, ...]}                            the run's own value (the model's or dataset's default, or
                                                        the flag's) times one of the factors; a whole number stays
                                                        whole
and may hold `"with": FIELD`: searched only in runs that set FIELD (LoRA's rank and alpha with --lora-rank).
Each family declares its default space (`families.FAMILIES`); `--tune-space FILE` (YAML) changes it: its ranges
replace the default's, add to it, or (`null`) remove one. Nothing here imports TensorFlow: a bad space is one error
line before a model loads.
"""

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import yaml

from textclf.config import RunConfig, checked_setting
from textclf.errors import InputError
from textclf.families import FAMILIES
from textclf.models.registry import family_of

KINDS = ("choice", "float", "int", "times")
OPTIONS = {"choice": set(), "float": {"step", "log"}, "int": {"step"}, "times": set()}
MODEL_ARGS = "model_args."
# what a search must not change: what the run is of, where it is written, and how it is checked
FIXED = ("dataset", "data_dir", "model", "seed", "monitor", "output_dir", "cache_dir", "eval_datasets", "max_samples",
         "text_column", "label_column", "recipe", "val_fraction", "test_fraction", "devices", "strategy")


class Dimension(NamedTuple):
    """One setting's range in a search, checked: `values` for a choice (the factors already applied), or
    `low`, `high`, `step`, `log` for a number."""

    name: str  # a RunConfig field, or model_args.<name>
    kind: str  # choice, float or int
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False


def read_space(path: str) -> dict:
    """A --tune-space file: a YAML mapping of settings to ranges (or null)."""
    try:
        space = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"--tune-space {path}: cannot be read ({err.strerror or err})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(f"--tune-space {path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(space, dict):
        raise InputError(f"--tune-space {path}: expected a mapping of settings to ranges")
    return space


def _check_range(name: str, spec, source: str) -> None:
    if not isinstance(spec, dict) or len(spec.keys() & set(KINDS)) != 1:
        raise InputError(f"{source}: {name}: expected one of {', '.join(KINDS)} (e.g. {{choice: [1, 2]}}), got "
                         f"{spec!r}")
    kind = next(key for key in KINDS if key in spec)
    if unknown := set(spec) - {kind, "with", *OPTIONS[kind]}:
        raise InputError(f"{source}: {name}: {kind} takes no {', '.join(sorted(unknown))}")
    values = spec[kind]
    if not isinstance(values, list) or not values or (kind in ("float", "int") and len(values) != 2):
        raise InputError(f"{source}: {name}: {kind} takes " + (
            "[low, high]" if kind in ("float", "int") else "a non-empty list"))
    if kind in ("float", "int", "times") and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise InputError(f"{source}: {name}: {kind} takes numbers, got {values!r}")
    if kind in ("float", "int") and not values[0] < values[1]:
        raise InputError(f"{source}: {name}: low {values[0]} must be below high {values[1]}")
    if kind == "int" and not all(isinstance(v, int) for v in values):
        raise InputError(f"{source}: {name}: int takes whole numbers, got {values!r}")
    step = spec.get("step")
    if step is not None and not (isinstance(step, int if kind == "int" else (int, float)) and not isinstance(step, bool)
                                 and 0 < step < math.inf):
        raise InputError(f"{source}: {name}: step must be a {'whole ' if kind == 'int' else ''}number above 0, "
                         f"got {step!r}")
    if "log" in spec and (not isinstance(spec["log"], bool) or (spec["log"] and values[0] <= 0)):
        raise InputError(f"{source}: {name}: log takes true or false, and a low above 0")
    kinds = {float if isinstance(v, int) and not isinstance(v, bool) else type(v) for v in values}
    if kind == "choice" and len(kinds) > 1:
        raise InputError(f"{source}: {name}: choice takes values of one kind (numbers, or words, or true/false), "
                         f"got {values!r}")


def _base_values(config: RunConfig, model_settings: dict) -> dict:
    """What each setting is in a run of `config` (resolved), model_args' by their names prefixed."""
    own = {**model_settings, **config.model_args}
    return {**config.to_dict(), **{MODEL_ARGS + key: value for key, value in own.items()}}


def own_values(found: list[Dimension], resolved: RunConfig, model_settings: dict) -> dict | None:
    """What each searched setting is in a run of `resolved` (the run's own settings), when every one lies in its
    range (a choice holds it, a number range spans it); None when one does not."""
    base, values = _base_values(resolved, model_settings), {}
    for dimension in found:
        value = base.get(dimension.name)
        if dimension.kind == "choice":
            inside = value in dimension.values
        else:
            inside = isinstance(value, (int, float)) and dimension.low <= value <= dimension.high
        if not inside:
            return None
        values[dimension.name] = value
    return values


def _checked_value(name: str, value, config: RunConfig, source: str, check: Callable[[RunConfig], None]):
    """`value` for setting `name`, checked as its flag takes it, then in a run of `config` by `check`."""
    if not name.startswith(MODEL_ARGS):
        value = checked_setting(name, value, source)
    try:
        check(apply(config, {name: value}))
    except InputError as err:
        raise InputError(f"{source}: {name}: {value!r}: {err}") from None
    return value


def dimensions(config: RunConfig, resolved: RunConfig, given: dict, source: str, model_settings: dict,
               check: Callable[[RunConfig], None]) -> list[Dimension]:
    """The search space of `config`: its family's default space changed by `given` (a --tune-space mapping, from
    `source`), each range checked against the setting it moves.

    Args:
        resolved: `config` with its defaults filled in (`run.resolved`): what `times` multiplies.
        model_settings: the model's own settings with their defaults (its family's `model_settings`).
        check: raises InputError for a config that cannot run (`run.check`): each value and bound is tried in
            `config`.

    Raises:
        InputError: an unknown setting, a setting a search must not move, a malformed range, or a value the
            setting's flag would refuse, naming `source` and the setting.
    """
    fields = {field.name for field in dataclasses.fields(RunConfig)} - {"model_args"}
    default = FAMILIES[family_of(config.model)].space
    for name, spec in given.items():
        own = name.removeprefix(MODEL_ARGS)
        if name.startswith(MODEL_ARGS) and own not in model_settings and spec is not None:  # null: nothing to remove
            raise InputError(f"{source}: {name}: model {config.model} has no setting {own!r}; its settings are "
                             f"{', '.join(model_settings) or 'none'}")
        if not name.startswith(MODEL_ARGS) and name not in fields:
            raise InputError(f"{source}: {name}: not a setting (a RunConfig field, or model_args.<name>)")
        if name in FIXED:
            raise InputError(f"{source}: {name}: a search does not move it (it decides what is searched or how "
                             "it is scored)")
        if spec is not None:
            _check_range(name, spec, source)
    space = {name: spec for name, spec in {**default, **given}.items() if spec is not None and (
        name in given or not name.startswith(MODEL_ARGS) or name.removeprefix(MODEL_ARGS) in model_settings)}
    base = _base_values(resolved, model_settings)
    found = []
    for name, spec in space.items():
        if spec.get("with") and getattr(config, spec["with"], None) is None:
            continue
        kind = next(key for key in KINDS if key in spec)
        if kind == "times":
            if not isinstance(base.get(name), (int, float)) or isinstance(base.get(name), bool):
                if name not in given:  # a default range on a setting this model holds otherwise (a pair of widths)
                    continue
                raise InputError(f"{source}: {name}: times needs a number to multiply, and the run's is "
                                 f"{base.get(name)!r}")
            whole = isinstance(base[name], int)
            values = [round(base[name] * factor) if whole else base[name] * factor for factor in spec[kind]]
            spec, kind = {"choice": list(dict.fromkeys(values))}, "choice"
        if kind == "choice":
            values = tuple(_checked_value(name, value, config, source, check) for value in spec["choice"])
            if any(isinstance(value, float) for value in values):  # KerasTuner takes one type: 1 and 0.5 as floats
                values = tuple(float(value) for value in values)
            found.append(Dimension(name, "choice", values))
        else:
            low, high = (_checked_value(name, value, config, source, check) for value in spec[kind])
            found.append(Dimension(name, kind, low=low, high=high, step=spec.get("step"), log=bool(spec.get("log"))))
    return found


def apply(config: RunConfig, values: dict) -> RunConfig:
    """`config` with the settings of a trial (`values`: setting -> value, model_args' prefixed)."""
    model_args = {**config.model_args, **{name.removeprefix(MODEL_ARGS): value for name, value in values.items()
                                           if name.startswith(MODEL_ARGS)}}
    fields = {name: value for name, value in values.items() if not name.startswith(MODEL_ARGS)}
    return dataclasses.replace(config, **fields, model_args=model_args)
