"""Faithfulness of a run's explanations: ERASER's comprehensiveness and sufficiency (DeYoung et al., 2020), as AOPC.

    python benchmarks/faithfulness.py --run data/output/run_YYYYMMDD_HHMMSS
    python benchmarks/faithfulness.py --run RUN --texts 200 --seed 0     # the issue 32 figures
    python benchmarks/faithfulness.py --run RUN_A RUN_B --texts 20       # a quick try, one line per run

Takes a seeded sample of `--texts` texts of the run's test_predictions.csv and explains each towards the class the
run predicts for it (y), by each of the run's methods (`predictor.explainer.methods`) and by `random` (a seeded
random ranking of the same words). The words are the explanation's (the run's own tokens, `explain.reading`), ranked
by score, highest first. For each share k of PERCENTS, the top ceil(k% x words) words (so at least one):

- comprehensiveness_k = p_y(text) - p_y(text without those words): higher is better;
- sufficiency_k = p_y(text) - p_y(only those words, in text order): lower is better.

AOPC: the mean over the shares, then over the texts. Texts are rebuilt from the words with the reading's joiner
(after `text.prepare`, as the predictor does), and p_y(text) is that of all the words so rebuilt; the rebuilt texts
go through the run's model in batches, as occlusion sends them (`explainer.probabilities`: `Predictor.predict`
without a second `text.prepare`). Prints one JSON line per run: run, model, dataset, test_accuracy (its report's
final_test_accuracy), texts, and per method comprehensiveness, sufficiency and seconds (the time to explain the
texts; the perturbed texts' predictions are not counted). A bad --run: an `error:` line, exit status 2.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from textclf.errors import InputError  # noqa: E402
from textclf.run_folders import checked_run, report_path  # noqa: E402

PERCENTS = (1, 5, 10, 20, 50)  # shares of a text's words removed (comprehensiveness) or kept (sufficiency)
BATCH = 64  # texts per call of the model


def perturbed(words: Sequence[str], scores: Sequence[float], joiner: str,
              percents: Sequence[int] = PERCENTS) -> tuple[list[str], list[str]]:
    """For each share k of `percents`: the text without its top ceil(k% x words) words by score (ties in text
    order), and the text of only those words, in text order."""
    order = sorted(range(len(words)), key=lambda i: -scores[i])
    without, only = [], []
    for k in percents:
        top = set(order[:-(-k * len(words) // 100)])
        without.append(joiner.join(w for i, w in enumerate(words) if i not in top))
        only.append(joiner.join(w for i, w in enumerate(words) if i in top))
    return without, only


def aopc(full: float, without: Sequence[float], only: Sequence[float]) -> tuple[float, float]:
    """Comprehensiveness and sufficiency AOPC of one text: the mean drops from p_y(text) `full` to p_y without the
    top words (`without`, one per share) and to p_y of only them (`only`)."""
    full = float(full)
    return float(np.mean(full - np.asarray(without))), float(np.mean(full - np.asarray(only)))


def faithfulness(probabilities: Callable[[list[str]], np.ndarray], cases: Sequence[tuple],
                 percents: Sequence[int] = PERCENTS) -> tuple[float, float]:
    """Mean comprehensiveness and sufficiency AOPC over `cases`, each (words, scores, joiner, target class index).

    Args:
        probabilities: texts (as the model takes them) -> class probabilities, one row per text.
    """
    texts = []
    for words, scores, joiner, _ in cases:
        without, only = perturbed(words, scores, joiner, percents)
        texts += [joiner.join(words), *without, *only]
    rows = np.concatenate([probabilities(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)])
    rows = rows.reshape(len(cases), 1 + 2 * len(percents), -1)
    results = [aopc(row[0, y], row[1:1 + len(percents), y], row[1 + len(percents):, y])
               for row, (*_, y) in zip(rows, cases)]
    return tuple(float(np.mean(column)) for column in zip(*results))


def measure(run_dir: Path, count: int, seed: int) -> dict:
    from textclf.data import text
    from textclf.explain.reading import reading
    from textclf.serving.predictor import Predictor  # TensorFlow starts here

    predictor = Predictor(run_dir)
    tokenizer = predictor.config["tokenizer"]
    frame = pd.read_csv(run_dir / "test_predictions.csv", dtype={"text": str}, keep_default_na=False)
    texts = frame["text"].sample(min(count, len(frame)), random_state=seed).tolist()
    targets = predictor.predict(texts).argmax(axis=1).tolist()
    prepared = text.prepare(texts, tokenizer)
    reads = [reading(predictor.model, one, tokenizer) for one in prepared]
    kept = [i for i, read in enumerate(reads) if read.words]  # a text the run reads as no words has nothing to rank
    rng = np.random.default_rng(seed)
    result = {}
    for method in (*predictor.explainer.methods, "random"):
        started = time.perf_counter()
        if method == "random":
            scores = [rng.permutation(len(reads[i].words)).tolist() for i in kept]
        else:
            scores = [predictor.explainer.explain(prepared[i], targets[i], method).scores for i in kept]
        seconds = time.perf_counter() - started
        cases = [(reads[i].words, s, reads[i].joiner, targets[i]) for i, s in zip(kept, scores)]
        comprehensiveness, sufficiency = faithfulness(predictor.explainer.probabilities, cases)
        result[method] = {"comprehensiveness": round(comprehensiveness, 4), "sufficiency": round(sufficiency, 4),
                          "seconds": round(seconds, 1)}
    report = pd.read_csv(report_path(run_dir))
    accuracy = round(float(report["final_test_accuracy"].iloc[-1]), 4)
    return {"run": str(run_dir), "model": predictor.config["model"], "dataset": predictor.config["dataset"],
            "test_accuracy": accuracy, "texts": len(kept), "methods": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, nargs="+", required=True, help="run folder(s) to measure")
    parser.add_argument("--texts", type=int, default=200, help="test texts per run (a seeded sample)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sample and the random ranking")
    args = parser.parse_args()
    try:
        for run_dir in args.run:
            checked_run(run_dir)
            if not (run_dir / "test_predictions.csv").is_file():
                raise InputError(f"{run_dir}: no test_predictions.csv")
        for run_dir in args.run:
            print(json.dumps(measure(run_dir, args.texts, args.seed)), flush=True)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
