"""The distillation loss (`training.distillation`) against a hand computation, its training model's metrics, and
one step of it under MirroredStrategy on 2 and 7 logical CPUs moving the weights as on one device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from textclf.config import RunConfig
from textclf.training import distillation, objectives

ROOT = Path(__file__).resolve().parents[2]


def _by_hand(gold: int, teacher: np.ndarray, student: np.ndarray, alpha: float, t: float) -> float:
    """Hinton et al.'s loss of one row, written out: softmax(log p / T) for both, KL(teacher || student)."""
    def soft(p):
        z = np.exp(np.log(p) / t)
        return z / z.sum()

    kl = float(np.sum(soft(teacher) * np.log(soft(teacher) / soft(student))))
    if gold < 0:
        return t * t * kl
    return alpha * -float(np.log(student[gold])) + (1 - alpha) * t * t * kl


def test_the_loss_is_hintons_by_hand_with_the_teachers_alone_on_rows_without_a_gold_label():
    teacher = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1]], dtype="float32")
    student = np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.2, 0.2, 0.6]], dtype="float32")
    gold = np.array([0, 2, -1, -1])
    for alpha, t in ((0.5, 2.0), (0.1, 4.0), (1.0, 1.0), (0.0, 3.0)):
        loss = distillation.DistillationLoss(alpha, t, reduction=None)
        per_row = keras.ops.convert_to_numpy(loss(distillation.targets(gold, teacher), student))
        expected = [_by_hand(g, teacher[i], student[i], alpha, t) for i, g in enumerate(gold)]
        np.testing.assert_allclose(per_row, expected, rtol=1e-4)
        batch = distillation.DistillationLoss(alpha, t)(distillation.targets(gold, teacher), student)
        assert float(batch) == pytest.approx(np.mean(expected), rel=1e-4)


def test_a_student_that_is_its_teacher_has_no_soft_loss():
    probabilities = np.array([[0.7, 0.3], [0.1, 0.9]], dtype="float32")
    loss = distillation.DistillationLoss(0.0, 2.0)(distillation.targets([-1, 1], probabilities), probabilities)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def _classifier() -> keras.Model:
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


def test_a_teacher_makes_the_training_model_a_distillation_and_validation_is_the_classifiers_cross_entropy():
    keras.utils.set_random_seed(0)
    classifier = _classifier()
    model = objectives.training_model(classifier, RunConfig(model="fasttext", teacher="run", distil_alpha=0.3,
                                                            distil_temperature=2.0))
    assert isinstance(model, distillation.DistillationModel)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
    gold = np.array([0, 1, -1, -1, 1, 0])
    teacher = np.tile([[0.2, 0.8]], (6, 1)).astype("float32")
    logs = model.evaluate(x, distillation.targets(gold, teacher), return_dict=True, verbose=0)
    predicted = classifier.predict(x, verbose=0)
    expected = distillation.DistillationLoss(0.3, 2.0)(distillation.targets(gold, teacher), predicted)
    assert logs["loss"] == pytest.approx(float(expected), rel=1e-5)
    # accuracy against the gold class where there is one, else the teacher's (class 1)
    assert logs["accuracy"] == pytest.approx(np.mean(predicted.argmax(1) == np.where(gold >= 0, gold, 1)))
    labels = np.array([0, 1, 1, 0, 1, 0])
    plain = model.evaluate(x, labels, return_dict=True, verbose=0)
    assert plain["loss"] == pytest.approx(float(keras.losses.sparse_categorical_crossentropy(labels, predicted)
                                                 .numpy().mean()), rel=1e-5)


# One SGD step of the distillation loss on 14 rows (an even split on 2 and on 7 replicas), in a process whose
# logical CPUs are set before TensorFlow starts; the weights it gives are compared with one device's.
SCRIPT = """
import json, sys
import numpy as np, tensorflow as tf, keras
replicas = json.loads(sys.argv[1])
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * max(replicas, 1))
from textclf.training import distillation, keras_fixes
keras_fixes.build_from_local_batch()  # as devices.setup_strategy does: a first batch that splits unevenly builds

def step(strategy, rows):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3)).astype("float32")
    teacher = rng.dirichlet([1, 1], size=rows).astype("float32")
    gold = np.where(np.arange(rows) % 3 == 0, -1, np.arange(rows) % 2)
    with strategy.scope():
        inputs = keras.Input((3,))
        dense = keras.layers.Dense(2, activation="softmax", kernel_initializer="ones")
        model = distillation.DistillationModel(keras.Model(inputs, dense(inputs)), 0.5, 2.0)
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
    data = tf.data.Dataset.from_tensor_slices((x, distillation.targets(gold, teacher))).batch(rows)
    history = model.fit(data, epochs=1, verbose=0)
    return dense.kernel.numpy().tolist(), history.history["loss"][0]

devices = [device.name for device in tf.config.list_logical_devices("CPU")]
one = step(tf.distribute.OneDeviceStrategy(devices[0]), 14)
many = step(tf.distribute.MirroredStrategy(devices), 14)
uneven = step(tf.distribute.MirroredStrategy(devices), 13)
print(json.dumps({"one": one, "many": many, "uneven_finite": bool(np.isfinite(uneven[0]).all())}))
"""


@pytest.mark.large
@pytest.mark.parametrize("replicas", [2, 7])
def test_a_distillation_step_over_replicas_moves_the_weights_as_on_one_device(replicas):
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(replicas)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(result["many"][0], result["one"][0], rtol=1e-5)
    assert result["many"][1] == pytest.approx(result["one"][1], rel=1e-5)
    assert result["one"][0] != [[1.0, 1.0]] * 3  # the step moved them
    assert result["uneven_finite"]
