"""Fine-tunes a BERT checkpoint on SST-2 with Hugging Face transformers and PyTorch, for comparison with textclf.

Runs under its own venv (torch and transformers are not project dependencies), so it imports neither
TensorFlow nor textclf. It follows textclf's recipe for `--model bert --max-len 64 --batch-size 32`:
AdamW at 5e-5 with weight decay 0.01 except on biases, LayerNorm and embeddings; linear warmup over a
tenth of the steps, then cosine decay to 0; each gradient tensor clipped to norm 1.0 on its own, as
Keras' `clipnorm` does; batches of one length bucket (textclf's four: below 16, 32, 48 tokens, and the
rest), each padded to its longest row. The AdamW is transformers' Trainer default (torch's, fused).
Trains one epoch on every row of --train-tsv (`sentence<TAB>label`), times the steps after the first
--warmup-steps, then scores --dev-tsv. Prints one line of JSON to stdout; progress goes to stderr.

    bash benchmarks/torch_venv.sh
    benchmarks/.torch-venv/bin/python benchmarks/torch_minilm_sst2.py --preset MODEL_DIR \
        --train-tsv ../shared/data/sst2/train.tsv --dev-tsv ../shared/data/sst2/dev.tsv

`speed_minilm_sst2.py` runs it on a sample of train written in textclf's epoch order (`--in-order`).
"""

import argparse
import bisect
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import torch
import transformers
from torch import nn

BATCH_SIZE = 32
MAX_LEN = 64  # tokens, [CLS] and [SEP] included; longer sentences lose their end, as textclf's "head" cut
BOUNDARIES = sorted({MAX_LEN * k // 4 for k in (1, 2, 3)})  # textclf's pipeline.bucket_boundaries(MAX_LEN)
LEARNING_RATE = 5e-5
WEIGHT_DECAY = 0.01
NO_DECAY = ("bias", "LayerNorm", "embeddings")  # textclf's NO_WEIGHT_DECAY, in transformers' parameter names
WARMUP_RATIO = 0.1
CLIPNORM = 1.0
EPSILON = 1e-7  # Keras' AdamW default (torch's is 1e-8)


class BadInput(Exception):
    """Input the user can fix: reported in one line, without a traceback."""


def load_tsv(path):
    try:
        df = pd.read_csv(path, sep="\t")
    except FileNotFoundError:
        raise BadInput(f"no such file: {path}")
    missing = {"sentence", "label"} - set(df.columns)
    if missing:
        raise BadInput(f"{path}: missing column(s) {sorted(missing)}; found {list(df.columns)}")
    return df["sentence"].fillna("").astype(str).tolist(), df["label"].to_numpy(dtype=np.int64)


def bucketed(lengths, order):
    """Row-index batches as tf.data's `bucket_by_sequence_length` makes them from rows read in `order`: a
    batch leaves its bucket when full, the part-filled ones after the last row."""
    buckets = [[] for _ in range(len(BOUNDARIES) + 1)]
    for row in order:
        bucket = buckets[bisect.bisect_right(BOUNDARIES, lengths[row])]
        bucket.append(row)
        if len(bucket) == BATCH_SIZE:
            yield bucket.copy()
            bucket.clear()
    yield from (bucket for bucket in buckets if bucket)


def padded(ids, rows):
    """Input ids and attention mask of `rows`, padded to the longest of them."""
    width = max(len(ids[row]) for row in rows)
    tokens = torch.zeros((len(rows), width), dtype=torch.long)  # 0 is BERT's [PAD]
    for i, row in enumerate(rows):
        tokens[i, : len(ids[row])] = torch.tensor(ids[row])
    return tokens, (tokens != 0).long()


def optimizer_for(model, total_steps):
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for name, p in named if not any(key in name for key in NO_DECAY)], "weight_decay": WEIGHT_DECAY},
        {"params": [p for name, p in named if any(key in name for key in NO_DECAY)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=LEARNING_RATE, eps=EPSILON, fused=True)
    schedule = transformers.get_cosine_schedule_with_warmup(optimizer, int(total_steps * WARMUP_RATIO), total_steps)
    return optimizer, schedule


def clip_each(params):
    """Keras' clipnorm: each gradient g becomes g * CLIPNORM / max(|g|, CLIPNORM), in three foreach kernels (the
    ones torch's clip_grad_norm_ uses) rather than two small ops per tensor."""
    grads = [p.grad for p in params]
    norms = torch.stack(torch._foreach_norm(grads))
    torch._foreach_mul_(grads, (CLIPNORM / norms.clamp(min=CLIPNORM)).unbind())


def train_epoch(model, ids, labels, order, warmup_steps, bfloat16):
    """One epoch; returns the steps, and the rows, padded tokens and seconds of those after the first `warmup_steps`."""
    batches = list(bucketed([len(row) for row in ids], order))
    optimizer, schedule = optimizer_for(model, len(batches))
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    rows = tokens_seen = seconds = 0
    for step, batch in enumerate(batches):
        tokens, mask = padded(ids, batch)  # building a batch is data loading, so it is not timed
        y = torch.from_numpy(labels[batch])
        start = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):  # weights and update stay float32
            logits = model(input_ids=tokens, attention_mask=mask).logits
        loss = nn.functional.cross_entropy(logits.float(), y)
        loss.backward()
        clip_each(params)
        optimizer.step()
        schedule.step()
        elapsed = time.perf_counter() - start
        if step >= warmup_steps:
            rows, tokens_seen, seconds = rows + len(batch), tokens_seen + tokens.numel(), seconds + elapsed
        if (step + 1) % 20 == 0:
            print(f"step {step + 1}/{len(batches)}: loss {loss.item():.4f}, {elapsed:.3f}s", file=sys.stderr)
    return len(batches), rows, tokens_seen, seconds


@torch.inference_mode()
def accuracy(model, ids, labels, bfloat16):
    model.eval()
    correct = 0
    for start in range(0, len(ids), BATCH_SIZE):
        rows = list(range(start, min(start + BATCH_SIZE, len(ids))))
        tokens, mask = padded(ids, rows)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            logits = model(input_ids=tokens, attention_mask=mask).logits
        correct += int((logits.argmax(-1).numpy() == labels[rows]).sum())
    return correct / len(ids)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", required=True, help="Hugging Face folder of the checkpoint")
    p.add_argument("--train-tsv", required=True, help="sentence<TAB>label; one epoch over every row")
    p.add_argument("--dev-tsv", required=True)
    p.add_argument("--in-order", action="store_true", help="read train in file order (already shuffled)")
    p.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bfloat16", action="store_true", help="bfloat16 autocast (Keras' mixed_bfloat16)")
    args = p.parse_args(argv)
    if args.warmup_steps < 0 or args.threads < 1:
        p.error("--warmup-steps must be >= 0 and --threads >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    (texts, labels), (dev_texts, dev_labels) = load_tsv(args.train_tsv), load_tsv(args.dev_tsv)
    if not os.path.isfile(os.path.join(args.preset, "config.json")):
        raise BadInput(f"--preset {args.preset}: no config.json there")
    tokenizer = transformers.AutoTokenizer.from_pretrained(args.preset)
    ids, dev_ids = (tokenizer(t, truncation=True, max_length=MAX_LEN)["input_ids"] for t in (texts, dev_texts))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(args.preset, num_labels=2)
    order = range(len(texts)) if args.in_order else np.random.default_rng(args.seed).permutation(len(texts))
    steps, rows, tokens, seconds = train_epoch(model, ids, labels, order, args.warmup_steps, args.bfloat16)
    if rows == 0:
        raise BadInput(f"{args.train_tsv}: no step after the {args.warmup_steps} warm-up steps; give more rows")
    print(json.dumps({
        "framework": "transformers", "torch_version": torch.__version__,
        "transformers_version": transformers.__version__, "threads": args.threads,
        "attention": model.config._attn_implementation, "batch_size": BATCH_SIZE, "max_len": MAX_LEN,
        "train_rows": len(texts), "steps": steps,
        "timed_rows": rows, "timed_padded_tokens": tokens, "seconds": round(seconds, 3),
        "samples_per_second": round(rows / seconds, 1), "dev_accuracy": round(accuracy(model, dev_ids, dev_labels, args.bfloat16), 4),
    }))


if __name__ == "__main__":
    try:
        main()
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
