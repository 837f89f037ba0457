"""Shared fixtures. Tests run on small files committed in tests/fixtures, never on ../shared."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def log_lines():
    """Captures loguru messages (the package logs through loguru, not `logging`)."""
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    yield lines
    logger.remove(sink)


def _benchmark_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_decoder_preset(tmp_path_factory) -> Path:
    """A 1-layer, 16-wide random Gemma preset folder with a SentencePiece vocabulary of the SST-2 fixture, the
    prompt template and the class names, written by benchmarks/tiny_decoder.py (as for experiments/llm_tiny.yaml)."""
    module = _benchmark_module("tiny_decoder")
    folder = tmp_path_factory.mktemp("tiny_decoder")
    module.write_preset(module.training_texts(["sst2"], str(FIXTURES / "sst2_tiny")), folder, vocabulary_size=150,
                        num_layers=1, hidden_dim=16)
    return folder


@pytest.fixture(scope="session")
def chinese_bert_preset(tmp_path_factory) -> Path:
    """A 1-layer, 8-wide random BERT preset folder on the characters of the ChnSentiCorp fixture's train
    texts, written by benchmarks/tiny_chinese_bert.py (which writes the larger one the benchmarks train)."""
    import pandas as pd

    module = _benchmark_module("tiny_chinese_bert")
    folder = tmp_path_factory.mktemp("chinese_bert")
    texts = pd.read_csv(FIXTURES / "chnsenticorp_tiny" / "train.csv")["text"]
    module.write_preset(texts, folder, num_layers=1, hidden_dim=8, max_sequence_length=64)
    return folder


WORDS = ["the", "a", "film", "movie", "is", "good", "bad", "great", "not", "and", "it", "of"]


@pytest.fixture(scope="session")
def bert_preset(tmp_path_factory) -> Path:
    """A Keras preset folder of a 1-layer BERT with width 8 and a 17-word WordPiece vocabulary."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    folder = tmp_path_factory.mktemp("tiny_bert")
    keras_hub.models.BertBackbone(vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
                                  intermediate_dim=16, max_sequence_length=32).save_to_preset(str(folder))
    keras_hub.models.BertTokenizer(vocabulary=vocab).save_to_preset(str(folder))
    return folder
