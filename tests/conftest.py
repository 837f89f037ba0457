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


@pytest.fixture(scope="session")
def chinese_bert_preset(tmp_path_factory) -> Path:
    """A 1-layer, 8-wide random BERT preset folder on the characters of the ChnSentiCorp fixture's train
    texts, written by benchmarks/tiny_chinese_bert.py (which writes the larger one the benchmarks train)."""
    import pandas as pd

    spec = importlib.util.spec_from_file_location("tiny_chinese_bert", ROOT / "benchmarks" / "tiny_chinese_bert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path_factory.mktemp("chinese_bert")
    texts = pd.read_csv(FIXTURES / "chnsenticorp_tiny" / "train.csv")["text"]
    module.write_preset(texts, folder, num_layers=1, hidden_dim=8, max_sequence_length=64)
    return folder
