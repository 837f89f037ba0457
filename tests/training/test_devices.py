import pytest
import tensorflow as tf

from textclf.errors import InputError
from textclf.training import devices


class FakeConfig:
    """Stands in for tf.config on a machine with GPUs, recording what is set."""

    def __init__(self, gpus):
        self.gpus = [f"GPU:{i}" for i in range(gpus)]
        self.growth, self.visible = [], None
        self.experimental = self

    def list_physical_devices(self, kind):
        return self.gpus if kind == "GPU" else ["CPU:0"]

    def set_memory_growth(self, gpu, enable):
        self.growth.append((gpu, enable))

    def set_visible_devices(self, gpus, kind):
        self.visible = (gpus, kind)


@pytest.fixture
def fake_gpus(monkeypatch):
    def install(count):
        fake = FakeConfig(count)
        monkeypatch.setattr(devices.tf, "config", fake)
        monkeypatch.setattr(devices.tf.distribute, "MirroredStrategy", lambda *a: tf.distribute.get_strategy())
        return fake

    return install


def test_memory_growth_on_every_gpu_and_all_visible(fake_gpus):
    fake = fake_gpus(7)
    _, on_gpu = devices.setup_strategy(None)
    assert on_gpu
    assert fake.growth == [(f"GPU:{i}", True) for i in range(7)]
    assert fake.visible is None


def test_devices_picks_the_first_gpus(fake_gpus):
    fake = fake_gpus(7)
    devices.setup_strategy(3)
    assert fake.visible == (["GPU:0", "GPU:1", "GPU:2"], "GPU")


def test_more_devices_than_gpus(fake_gpus):
    fake_gpus(2)
    with pytest.raises(InputError, match="only 2 GPUs"):
        devices.setup_strategy(4)


def test_cpu_without_devices_uses_the_default_strategy(fake_gpus):
    fake_gpus(0)
    strategy, on_gpu = devices.setup_strategy(None)
    assert not on_gpu and strategy.num_replicas_in_sync == 1


@pytest.mark.parametrize(
    "flag, on_gpu, expected",
    [("auto", True, "mixed_float16"), ("auto", False, "float32"), ("mixed_bfloat16", False, "mixed_bfloat16")],
)
def test_precision(flag, on_gpu, expected):
    assert devices.resolve_precision(flag, on_gpu) == expected


def test_cpu_devices_are_limited_to_the_cores(fake_gpus, monkeypatch):
    fake_gpus(0)
    monkeypatch.setattr(devices.os, "cpu_count", lambda: 4)
    with pytest.raises(InputError, match="--devices 99: no GPU here, and this CPU has 4 cores; use at most 4"):
        devices.setup_strategy(99)
    monkeypatch.setattr(devices.os, "cpu_count", lambda: 1)
    assert devices.max_cpu_devices() == 2  # MirroredStrategy can be tried on any machine
