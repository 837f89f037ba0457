"""Knowledge distillation (`--teacher RUN`): a from-scratch student learns a finished run's probabilities.

Before the student's run claims its folder, `with_transfer`:

1. checks the teacher: a finished run folder of any model (an encoder, a decoder, an ensemble, a from-scratch
   model) whose classes are the dataset's, in the same order, and which never trained or selected on the student's
   test texts (read from its config as it read them);
2. makes the transfer set: `--unlabeled`'s texts and `--augment`'s copies of the training texts (`data.augment`),
   without any text of validation or test, compared as the student reads them (case, punctuation and spacing
   aside); a tuning trial's too, though it never reads the test split's labels;

then, unless a finished run of the same config and data (transfer set included) is reused, `labelled`:

3. has the teacher's exported model (calibrated if the run is) label train's texts, the transfer set's and test's
   (test only for the report's `teacher_agreement`), each text once: cached in --cache-dir text by text, in a folder
   of the teacher's model file, beside the teacher's own test predictions.

The loss is `training.distillation`'s; the families batch its targets (`families.scratch.batched`).
"""

import dataclasses
import hashlib
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from loguru import logger

from textclf.config import DISTILLATION_SETTINGS, RunConfig
from textclf.data import augment, splits, tables
from textclf.data.run_data import training_texts
from textclf.errors import InputError
from textclf.files import cache_key, read_json, replacing
from textclf.run_folders import checked_run, report_row

KEY_BYTES = 16  # of a text's sha256: the teacher's cache knows a text by them


@dataclasses.dataclass(frozen=True)
class Teacher:
    """What a student's report says of its teacher."""

    run_dir: Path
    model: str
    test_accuracy: float | None  # as the teacher's own report gives it
    test_predicted: np.ndarray  # the teacher's class for each of the student's test texts

    def columns(self, config: RunConfig, data: splits.Splits, predicted: np.ndarray | None) -> dict:
        """The report's distillation columns; `predicted`: the student's classes over test (None in a trial)."""
        agreement = None if predicted is None else float(np.mean(np.asarray(predicted) == self.test_predicted))
        return {"teacher_run": str(self.run_dir), "teacher_model": self.model,
                "teacher_test_accuracy": self.test_accuracy, "teacher_agreement": agreement,
                "distil_alpha": config.distil_alpha, "distil_temperature": config.distil_temperature,
                "transfer_rows": len(data.transfer)}


def check(config: RunConfig):
    """Before any data is read: a distillation setting without --teacher, a teacher that is not a finished run
    folder, a loss or class weighting besides the distillation's, and an --unlabeled file that is not there."""
    if config.teacher is None:
        for name in DISTILLATION_SETTINGS:
            if getattr(config, name) not in (None, 0):
                raise InputError(f"--{name.replace('_', '-')} is a setting of --teacher (a run folder to distil "
                                 "from), which this run does not give")
        return
    try:
        checked_run(Path(config.teacher))
    except InputError as err:
        raise InputError(f"--teacher {err}") from None
    if config.objective != "ce":
        raise InputError(f"--teacher trains with the distillation loss; --objective {config.objective} is another "
                         "loss, leave it out")
    if config.class_weight == "balanced":
        raise InputError("--class-weight balanced weighs rows by their gold class, and a distilled student also "
                         "learns rows without one (the transfer set); leave it out with --teacher")
    if config.unlabeled is not None and not Path(config.unlabeled).is_file():
        raise InputError(f"--unlabeled {config.unlabeled}: no such file")


def _check_teacher(run_dir: Path, config: dict, class_names: list[str], test_texts: list[str]):
    """Refuses a teacher of other classes, or one that trained or selected on any of `test_texts`."""
    classes = read_json(run_dir / "classes.json")
    if classes != class_names:
        raise InputError(f"--teacher {run_dir}: its classes {classes} are not this dataset's {class_names}; a "
                         "teacher's probabilities must be over the same classes, in the same order")
    try:
        seen = training_texts(config, str(run_dir / "config.json"))
    except InputError as err:
        raise InputError(f"--teacher {run_dir}: cannot check that it never trained on this run's test texts, as its "
                         f"data cannot be read here: {err}") from None
    if overlap := sum(text in seen for text in test_texts):
        raise InputError(f"--teacher {run_dir} trained or selected on {overlap} of this run's {len(test_texts)} test "
                         "texts, so the student would be scored on texts its teacher saw; use a teacher of the same "
                         "dataset and seed, or one that never saw this test split")


def _words(text: str) -> str:
    """A text as the from-scratch models read it, near enough to match: its words, lower-cased."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def transfer_set(config: RunConfig, data: splits.Splits) -> list[str]:
    """--unlabeled's texts (at most --max-samples of them, seeded) and --augment's copies of train's, each once and
    none of them a validation or test text, compared by their words (`_words`)."""
    texts = []
    if config.unlabeled is not None:
        unlabeled = tables.load_texts(Path(config.unlabeled))
        if config.max_samples is not None and len(unlabeled) > config.max_samples:
            unlabeled = pd.Series(unlabeled).sample(config.max_samples, random_state=config.seed).tolist()
        texts += unlabeled
    if config.augment:
        texts += augment.augment(data.train["text"].tolist(), config.augment, config.seed,
                                 chinese=data.language == "zh", embeddings=config.embeddings)
    held_out = {_words(text) for text in (*data.val["text"], *data.test["text"])}
    kept = [text for text in dict.fromkeys(texts) if _words(text) not in held_out]
    if len(kept) < len(texts):
        logger.info(f"transfer set: {len(texts) - len(kept)} of its {len(texts)} texts left out (repeated, or a "
                    "validation or test text)")
    return kept


def teacher_probabilities(run_dir: Path, texts: list[str], classes: int, cache_dir: str) -> np.ndarray:
    """The teacher's probabilities of its `classes` over `texts` from its exported model, cached text by text in
    `cache_dir`, in a folder of the model file (its path, size and time): only texts no earlier student labelled
    (another seed's split, augmented copies, a trial) are labelled, and none of the teacher's own test texts, whose
    probabilities its test_predictions.csv holds. A cache file that cannot be read or written is passed over
    (logged): it saves time, nothing more.

    Raises:
        InputError: the teacher's probabilities are not finite (a broken model).
    """
    model_file = (run_dir / "model.keras").resolve()
    stat = model_file.stat()
    folder = Path(cache_dir) / f"teacher_{cache_key([], f'{model_file}|{stat.st_size}|{stat.st_mtime_ns}')}"
    known = {**_tested(run_dir, classes), **_cached(folder, classes)}
    keys = [_text_key(text) for text in texts]
    new = {key: text for key, text in zip(keys, texts) if key not in known}
    logger.info(f"the teacher's probabilities of {len(texts) - len(new):,} of {len(texts):,} texts from its test "
                f"predictions and the cache {folder}")
    if new:
        from textclf.serving.batch import predict_by_length  # TensorFlow starts here
        from textclf.serving.predictor import Predictor

        logger.info(f"the teacher {run_dir} labels {len(new):,} texts")
        labelled = predict_by_length(Predictor(run_dir), list(new.values()))
        if not np.isfinite(labelled).all():
            raise InputError(f"--teacher {run_dir}: its model gives probabilities that are not finite (NaN or inf)")
        known.update(zip(new, labelled))
        _cache(folder, list(new), labelled)
    return np.stack([known[key] for key in keys]) if keys else np.zeros((0, classes), "float32")


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


def _tested(run_dir: Path, classes: int) -> dict[bytes, np.ndarray]:
    """The teacher's probabilities of its own test texts, from its test_predictions.csv; {} if it cannot be read."""
    try:
        tested = pd.read_csv(run_dir / "test_predictions.csv", dtype={"text": str}, keep_default_na=False)
        columns = [column for column in tested.columns if column.startswith("p_")]
        probabilities = tested[columns].to_numpy("float32")
    except (OSError, ValueError, KeyError):  # missing, damaged, or not a table of texts and numbers
        return {}
    if len(columns) != classes or "text" not in tested or not np.isfinite(probabilities).all():
        return {}
    return dict(zip(map(_text_key, tested["text"]), probabilities))


def _cached(folder: Path, classes: int) -> dict[bytes, np.ndarray]:
    """The probabilities cached in `folder` by earlier students, text key -> row; damaged files passed over."""
    known = {}
    for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
        try:
            with np.load(path, allow_pickle=False) as cached:
                keys, probabilities = cached["keys"], cached["probabilities"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            logger.info(f"the teacher's cache file {path} is passed over: {err}")
            continue
        if (keys.dtype != np.uint8 or keys.shape != (len(keys), KEY_BYTES)
                or probabilities.shape != (len(keys), classes) or not np.isfinite(probabilities).all()):
            logger.info(f"the teacher's cache file {path} is passed over: not {classes} finite probabilities a text")
            continue
        known.update(zip(map(bytes, keys), probabilities))
    return known


def _cache(folder: Path, keys: list[bytes], probabilities: np.ndarray):
    """Adds a file of `keys` and their `probabilities` to `folder`; logged and passed over if it cannot be written."""
    path = folder / f"{cache_key([key.hex() for key in keys], '')}.npz"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp, tmp.open("wb") as file:
            np.savez(file, keys=np.frombuffer(b"".join(keys), np.uint8).reshape(-1, KEY_BYTES),
                     probabilities=probabilities)
    except OSError as err:
        logger.warning(f"the teacher's probabilities are not cached: {path}: {err.strerror or err}")


def _test_accuracy(run_dir: Path) -> float | None:
    """The teacher's test accuracy as its report gives it; None without a report (a renamed folder) or a number."""
    try:
        value = float(report_row(run_dir).get("final_test_accuracy"))
    except (InputError, ValueError, TypeError):
        return None
    return None if np.isnan(value) else value


def with_transfer(config: RunConfig, data: splits.Splits) -> splits.Splits:
    """`data` with the --teacher's transfer set, the teacher checked first; `data` itself without --teacher. The
    transfer set is part of the data's fingerprint, so a finished run of the same data is known before the teacher
    labels anything (`labelled`)."""
    if config.teacher is None:
        return data
    run_dir = Path(config.teacher)
    _check_teacher(run_dir, read_json(run_dir / "config.json"), data.class_names, data.test["text"].tolist())
    return dataclasses.replace(data, transfer=transfer_set(config, data))


def labelled(config: RunConfig, data: splits.Splits) -> tuple[splits.Splits, Teacher | None]:
    """`data` (from `with_transfer`) with the teacher's probabilities over train's and the transfer set's texts,
    and the teacher as the report names it; `data` itself and None without --teacher. The teacher labels the test
    texts too, for the report's agreement: none for a tuning trial, whose data has no test rows."""
    if config.teacher is None:
        return data, None
    run_dir = Path(config.teacher)
    trained = data.train["text"].tolist() + data.transfer
    probabilities = teacher_probabilities(run_dir, trained + data.test["text"].tolist(), len(data.class_names),
                                          config.cache_dir)
    teacher = Teacher(run_dir, str(read_json(run_dir / "config.json").get("model")), _test_accuracy(run_dir),
                      probabilities[len(trained):].argmax(axis=1))
    logger.info(f"distilling {teacher.model} ({run_dir}): {len(data.train):,} training texts and "
                f"{len(data.transfer):,} of the transfer set, alpha {config.distil_alpha}, temperature "
                f"{config.distil_temperature}")
    return dataclasses.replace(data, teacher=probabilities[:len(trained)]), teacher
