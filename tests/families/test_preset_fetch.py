"""A hub's preset that cannot be reached is one line of error before a run claims a folder."""

import pytest
import requests
import tensorflow as tf
from keras_hub.src.utils import preset_utils

from textclf.config import RunConfig
from textclf.errors import InputError
from textclf.run import run


@pytest.mark.parametrize("model, preset", [
    ("bert", "bert_tiny_en_uncased"),
    ("llm", "gemma_2b_en"),
])
def test_an_unreachable_hub_leaves_no_run_folder_and_no_marker(tmp_path, fixtures, monkeypatch, model, preset):
    def offline(*args, **kwargs):
        raise requests.ConnectionError("Failed to resolve 'api.kaggle.com' ([Errno -2] Name or service not known)")

    monkeypatch.setattr(preset_utils.kagglehub, "model_download", offline)  # as on a machine without network
    config = RunConfig(dataset="sst2", data_dir=str(fixtures / "sst2_tiny"), model=model, preset=preset, epochs=1,
                       output_dir=str(tmp_path / "out"))
    with pytest.raises(InputError, match=f"^--preset {preset}: cannot load it as --model {model}: Failed to resolve"):
        run(config, "cmd", tf.distribute.get_strategy(), False)
    assert not (tmp_path / "out").exists()  # neither a run_* folder nor .unfinished/
