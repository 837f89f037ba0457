"""Knowledge distillation's loss (`--teacher`): the student learns the gold labels and the teacher's probabilities.

Hinton et al. 2015, "Distilling the Knowledge in a Neural Network": for a row with a gold label,
`alpha * CE(gold, student) + (1 - alpha) * T^2 * KL(teacher_T || student_T)`, where `p_T` is softmax(log p / T)
(the probabilities softened at temperature T; T^2 keeps the soft term's gradients on cross-entropy's scale as T
grows). A row of the transfer set (`--unlabeled`, `--augment`) has no gold label (-1) and learns the teacher's
alone: `T^2 * KL(teacher_T || student_T)`. The loss is the mean over the batch's rows.

A training batch's targets are one float matrix: column 0 the gold class (-1 for none), the others the teacher's
probabilities. Validation and test keep their gold labels alone, and the student's validation loss, selection,
calibration, report and export are any run's: distillation changes only how the weights are trained.
"""

import keras
import numpy as np
from keras import ops

EPSILON = 1e-7  # as Keras's cross-entropy on probabilities clips them


def targets(labels, teacher_probabilities):
    """The training targets: gold class indices (-1 for none) beside the teacher's probabilities, as float32."""
    return np.concatenate([np.asarray(labels, dtype="float32")[:, None],
                           np.asarray(teacher_probabilities, dtype="float32")], axis=1)


def softened_log(probabilities, temperature: float):
    """log softmax(log p / T): the log of `probabilities` softened at `temperature`."""
    return ops.log_softmax(ops.log(ops.clip(ops.cast(probabilities, "float32"), EPSILON, 1.0)) / temperature, axis=-1)


class DistillationLoss(keras.losses.Loss):
    """The per-row loss above: `y_true` the targets matrix, `y_pred` the student's probabilities.

    Args:
        alpha: the weight of the gold labels' cross-entropy on rows that have one.
        temperature: T.
    """

    def __init__(self, alpha: float, temperature: float, name: str = "distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha, self.temperature = alpha, temperature

    def call(self, y_true, y_pred):
        gold = ops.cast(y_true[:, 0], "int32")
        labelled = ops.cast(gold >= 0, "float32")
        teacher = softened_log(y_true[:, 1:], self.temperature)
        student = softened_log(y_pred, self.temperature)
        soft = self.temperature ** 2 * ops.sum(ops.exp(teacher) * (teacher - student), axis=-1)
        log_student = ops.log(ops.clip(ops.cast(y_pred, "float32"), EPSILON, 1.0))
        hard = -ops.take_along_axis(log_student, ops.maximum(gold, 0)[:, None], axis=-1)[:, 0]
        return labelled * (self.alpha * hard + (1 - self.alpha) * soft) + (1 - labelled) * soft

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "temperature": self.temperature}


def is_targets(y) -> bool:
    """Whether a batch's `y` is the targets matrix (a training batch) rather than gold labels."""
    return len(y.shape) == 2 and y.shape[-1] is not None and y.shape[-1] > 1


class DistillationModel(keras.Model):
    """A classifier that trains on the targets matrix with `DistillationLoss`; it shares the classifier's layers,
    so after `fit` the classifier holds the trained weights. On gold labels (validation) it is the classifier
    compiled: cross-entropy and its metrics. Its training accuracy is against the gold class where there is one,
    else the teacher's."""

    def __init__(self, classifier: keras.Model, alpha: float, temperature: float):
        super().__init__(classifier.input, classifier.output, name="distillation_training")
        self.distillation = DistillationLoss(alpha, temperature)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not is_targets(y):
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        loss = self.distillation(y, y_pred, sample_weight)
        for regulariser in self.losses:  # as Keras's own compute_loss adds them
            loss = loss + self._aggregate_additional_loss(regulariser)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if is_targets(y):
            y = ops.where(y[:, 0] >= 0, y[:, 0], ops.cast(ops.argmax(y[:, 1:], axis=-1), y.dtype))
        return super().compute_metrics(x, y, y_pred, sample_weight)
