"""Finding and loading keras-hub presets: a keras-hub preset name (downloaded from its hub), a local Keras preset
folder (`save_to_preset`), or a local Hugging Face folder (`config.json`, `model.safetensors`, tokenizer files),
which keras-hub's own converters read. Every failure is one line of InputError naming the preset.
"""

import contextlib
import json
from collections.abc import Collection, Iterator
from pathlib import Path

from keras_hub.src.utils import preset_utils  # the download of one file of a preset: no public API does it

from textclf.errors import InputError


def preset_config(preset: str, known: Collection[str], kind: str) -> dict | None:
    """Fails early, in one line, on a preset that cannot be had; returns a folder's config.json, or None for a hub's
    preset: a keras-hub `kind` preset name in `known`, or an address (kaggle://, hf://, gs://) the hub decides on."""
    path = Path(preset).expanduser()
    if not path.exists():
        if "://" in preset:
            return None
        if "/" in preset or preset.startswith((".", "~")):
            raise InputError(f"--preset {preset}: no such folder; a preset folder is a Hugging Face model's or one "
                             "that keras-hub's save_to_preset writes: benchmarks/tiny_decoder.py writes a small random "
                             "decoder, benchmarks/tiny_chinese_bert.py a small random Chinese BERT (see their --help)")
        if preset not in known:
            raise InputError(f"--preset {preset}: neither a folder nor a keras-hub {kind} preset "
                             f"({', '.join(sorted(known)[:4])}, ...)")
        return None
    if not (path / "config.json").is_file():
        raise InputError(f"--preset {preset}: no config.json there (neither a Keras preset nor a Hugging Face folder)")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
        raise InputError(f"--preset {preset}: its config.json is not readable JSON ({error})") from None
    if not isinstance(config, dict):
        raise InputError(f"--preset {preset}: its config.json holds a JSON {type(config).__name__}, not an object")
    return config


@contextlib.contextmanager
def _loading(preset: str, model: str) -> Iterator[None]:
    """A failure to load `preset` as one line of InputError naming `--model model`."""
    try:
        yield
    except Exception as error:  # keras-hub, kagglehub and huggingface_hub raise many kinds for one cause
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"--preset {preset}: cannot load it as --model {model}: {reason}") from None


def from_preset(cls, preset: str, model: str, **kwargs):
    """`cls.from_preset` on a preset name or folder, its failure one line of InputError naming `--model model`."""
    source = str(Path(preset).expanduser()) if Path(preset).expanduser().exists() else preset
    with _loading(preset, model):
        return cls.from_preset(source, **kwargs)


def fetch_preset(preset: str, model: str) -> None:
    """Downloads a hub preset's config.json into keras-hub's cache, where the loads that follow find it, so that a
    hub that cannot be reached fails before a run folder is made (a folder is already here)."""
    if Path(preset).expanduser().exists():
        return
    with _loading(preset, model):
        preset_utils.get_file(preset, preset_utils.CONFIG_FILE)
