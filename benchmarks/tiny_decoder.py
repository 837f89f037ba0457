"""A small random Gemma decoder with a SentencePiece vocabulary learnt from datasets' training texts, written as a
Keras preset folder.

No decoder checkpoint is reachable from this machine, so this stands in for one to run `--model llm` end to end
through the matrix runner (`experiments/llm_tiny.yaml`): the vocabulary is learnt from the training splits of
`--datasets`, the original's prompt template and their class names (so that `--head label_words` finds each
name's first token), and the weights are random.

    python benchmarks/tiny_decoder.py --datasets sst2,r8 --data-dir ../shared/data --out data/cache/tiny_decoder
    python src/server_main.py --experiment experiments/llm_tiny.yaml
"""

import argparse
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import keras  # noqa: E402 - after the log level
import keras_hub  # noqa: E402
import sentencepiece  # noqa: E402

from textclf.config import RunConfig  # noqa: E402
from textclf.data import registry  # noqa: E402
from textclf.models.registry import LLM_TEMPLATE  # noqa: E402


def training_texts(datasets: list[str], data_dir: str) -> list[str]:
    """The datasets' training texts, then the template and the class names, each a few times over."""
    texts = []
    for name in datasets:
        data = registry.spec_for(name).load(RunConfig(dataset=name, data_dir=data_dir))
        texts += data.train["text"].fillna("").tolist() + [LLM_TEMPLATE, " ".join(data.class_names)] * 50
    return texts


def write_preset(texts: list[str], folder: Path, *, vocabulary_size: int = 8000, num_layers: int = 2,
                 hidden_dim: int = 64, seed: int = 0) -> int:
    """A random GemmaBackbone and a GemmaTokenizer learnt from `texts`, saved to `folder`; the vocabulary size."""
    keras.utils.set_random_seed(seed)
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=proto, vocab_size=vocabulary_size, model_type="unigram",
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
        unk_piece="<unk>", input_sentence_size=200_000, shuffle_input_sentence=True, minloglevel=2)
    tokenizer = keras_hub.models.GemmaTokenizer(proto=proto.getvalue())
    folder.mkdir(parents=True, exist_ok=True)
    keras_hub.models.GemmaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=num_layers, num_query_heads=2, num_key_value_heads=1,
        hidden_dim=hidden_dim, intermediate_dim=4 * hidden_dim, head_dim=hidden_dim // 2,
    ).save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return tokenizer.vocabulary_size()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="sst2,r8", help="comma-separated dataset names")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", type=Path, required=True, help="the preset folder to write")
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    args = parser.parse_args()
    texts = training_texts(args.datasets.split(","), args.data_dir)
    size = write_preset(texts, args.out, vocabulary_size=args.vocabulary_size, num_layers=args.layers,
                        hidden_dim=args.hidden)
    print(f"{args.out}: a random {args.layers}-layer Gemma, width {args.hidden}, {size:,} pieces in its vocabulary")


if __name__ == "__main__":
    main()
