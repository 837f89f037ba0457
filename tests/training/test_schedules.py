import keras
import pytest

from textclf.training import schedules


def test_sqrt_scaling():
    assert schedules.scaled_learning_rate(1e-3, 4) == pytest.approx(2e-3)
    assert schedules.scaled_learning_rate(1e-3, 1) == pytest.approx(1e-3)


def test_weight_averaging_spans_the_same_examples_on_any_number_of_replicas():
    assert schedules.scaled_ema_momentum(0.99, 1) == pytest.approx(0.99)
    assert schedules.scaled_ema_momentum(0.99, 2) == pytest.approx(0.9801)
    # two steps on 2 replicas see as many examples as one step on 4, and decay the average as much
    assert schedules.scaled_ema_momentum(0.99, 2) ** 2 == pytest.approx(schedules.scaled_ema_momentum(0.99, 4))
    assert schedules.scaled_ema_momentum(0.0, 4) == 0.0  # off stays off


def test_warmup_then_cosine_values():
    s = schedules.warmup_cosine(peak=1.0, total_steps=110, warmup_ratio=10 / 110)
    assert float(s(0)) == pytest.approx(0.0)
    assert float(s(5)) == pytest.approx(0.5)
    assert float(s(10)) == pytest.approx(1.0)
    assert float(s(60)) == pytest.approx(0.5, abs=1e-6)  # half way down the cosine
    assert float(s(110)) == pytest.approx(0.0, abs=1e-6)


def test_schedule_round_trips_without_custom_objects():
    s = schedules.warmup_cosine(peak=3e-3, total_steps=100, warmup_ratio=0.1)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert [float(again(t)) for t in (0, 10, 50)] == [float(s(t)) for t in (0, 10, 50)]
