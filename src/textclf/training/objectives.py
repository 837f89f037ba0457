"""Training objectives besides cross-entropy (`--objective`): R-Drop and supervised contrastive learning.

Both wrap a family's classifier in a training model (`ObjectiveModel`) whose loss Keras' own `fit` computes
through `compute_loss`, so the strategy, --grad-accum, the weight average, the backup and the checkpoints work
as for any run. Validation, selection, calibration, the report and serving all see the plain classifier: the
objective changes only how the weights are trained.

- R-Drop (Liang et al. 2021, "R-Drop: Regularized Dropout for Neural Networks"): each batch goes through the
  model twice, with two dropout masks; the loss is cross-entropy on both plus `rdrop_alpha` times the symmetric
  KL divergence between the two predictions, halved so that it stays on cross-entropy's scale:
  (CE1 + CE2 + alpha * (KL(p1 || p2) + KL(p2 || p1)) / 2) / 2. The paper's GLUE runs used alpha 4.
- SupCon (Khosla et al. 2020, "Supervised Contrastive Learning"; for fine-tuning, Gunel et al. 2021): the
  classifier's pooled features (the input of its last Dense layer, before the head's dropout) are normalised,
  and each text is pulled towards the other texts of its class in the batch and pushed from the rest, at
  temperature `supcon_temperature`; the loss is cross-entropy + `supcon_alpha` times that. Under
  MirroredStrategy each replica contrasts its own share of the batch.
"""

import keras
from keras import ops

from textclf.config import OBJECTIVES, RunConfig
from textclf.errors import InputError
from textclf.training import distillation


def check(config: RunConfig):
    """Refuses the settings of an objective the run does not train with."""
    for objective, settings in OBJECTIVES.items():
        for name in settings:
            if getattr(config, name) is not None and config.objective != objective:
                raise InputError(f"--{name.replace('_', '-')} is a setting of --objective {objective}; this run "
                                 f"trains with --objective {config.objective}")


def features(classifier: keras.Model):
    """The classifier's pooled features: the input of its last Dense layer, or of the dropout just before it."""
    head = [layer for layer in classifier.layers if isinstance(layer, keras.layers.Dense)][-1]
    before = [layer for layer in classifier.layers
              if isinstance(layer, keras.layers.Dropout) and layer.output is head.input]
    return before[0].input if before else head.input


def has_dropout(classifier: keras.Model) -> bool:
    """Whether any layer of `classifier`, nested ones included, drops something at a rate above 0."""
    return any(getattr(layer, name, 0) > 0 for layer in classifier._flatten_layers()
               for name in ("rate", "dropout", "recurrent_dropout") if isinstance(getattr(layer, name, 0), float))


class SupervisedContrastiveLoss(keras.losses.Loss):
    """Khosla et al.'s L_out per text: -mean over the batch's other texts p of its class of
    log(exp(z . z_p / t) / sum over the batch's other texts a of exp(z . z_a / t)), z the normalised features.
    A text with no other of its class in the batch scores 0.

    Args:
        temperature: t; lower sharpens the contrast.
    """

    def __init__(self, temperature: float, name: str = "supervised_contrastive", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = temperature

    def call(self, y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        z = ops.normalize(ops.cast(y_pred, "float32"), axis=-1)
        positions = ops.arange(ops.shape(z)[0])
        itself = ops.equal(positions[:, None], positions[None, :])
        logits = ops.where(itself, -1e9, ops.matmul(z, ops.transpose(z)) / self.temperature)
        log_probability = logits - ops.logsumexp(logits, axis=1, keepdims=True)
        positives = ops.logical_and(ops.equal(labels[:, None], labels[None, :]), ops.logical_not(itself))
        count = ops.sum(ops.cast(positives, "float32"), axis=1)
        return -ops.sum(ops.where(positives, log_probability, 0.0), axis=1) / ops.maximum(count, 1.0)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class ObjectiveModel(keras.Model):
    """A classifier that trains with R-Drop or SupCon; its outputs are [probabilities, pooled features].

    Its loss is the objective's in training and cross-entropy in evaluation; its metrics are the classifier's.
    It shares the classifier's layers: after `fit`, the classifier holds the trained weights.

    Args:
        classifier: a family's model, ending in float32 class probabilities.
        objective: "rdrop" or "supcon".
        alpha: the weight of the KL term (rdrop) or of the contrastive loss (supcon).
        temperature: SupCon's temperature.
    """

    def __init__(self, classifier: keras.Model, objective: str, alpha: float, temperature: float | None = None):
        super().__init__(classifier.input, [classifier.output, features(classifier)], name=f"{objective}_training")
        self.objective, self.alpha = objective, alpha
        if objective == "rdrop":
            self.cross_entropy = keras.losses.SparseCategoricalCrossentropy()
            self.divergence = keras.losses.KLDivergence()
        else:
            self.contrastive = SupervisedContrastiveLoss(temperature)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        probabilities, pooled = y_pred
        loss = super().compute_loss(x, y, probabilities, sample_weight, training)  # cross-entropy, regularisers
        if not training:
            return loss
        if self.objective == "supcon":
            return loss + self.alpha * self.contrastive(y, pooled, sample_weight)
        again = self(x, training=True)[0]  # the second pass: other dropout masks
        second = self.cross_entropy(y, again, sample_weight)
        symmetric = (self.divergence(probabilities, again, sample_weight)
                     + self.divergence(again, probabilities, sample_weight)) / 2
        return (loss + second + self.alpha * symmetric) / 2

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, y_pred[0], sample_weight)


def training_model(classifier: keras.Model, config: RunConfig) -> keras.Model:
    """`classifier` itself for cross-entropy; the DistillationModel that trains it with a --teacher's probabilities;
    else the ObjectiveModel that trains it with `config.objective`.

    Raises:
        InputError: R-Drop on a model without dropout (its two passes would be the same).
    """
    if config.teacher is not None:
        return distillation.DistillationModel(classifier, config.distil_alpha, config.distil_temperature)
    if config.objective == "ce":
        return classifier
    if config.objective == "rdrop":
        if not has_dropout(classifier):
            raise InputError(f"--objective rdrop compares two dropout passes, and this {config.model} drops "
                             "nothing (its dropout settings are 0)")
        return ObjectiveModel(classifier, objective="rdrop", alpha=config.rdrop_alpha)
    return ObjectiveModel(classifier, objective="supcon", alpha=config.supcon_alpha,
                          temperature=config.supcon_temperature)
