"""Precise BatchNorm statistics before every validation (Wu and Johnson 2021, "Rethinking 'Batch' in BatchNorm").

A BatchNormalization layer normalizes with its moving averages at inference, and those trail the layer's
inputs when the weights below it move fast. On IMDB the Weibo project's stacked LSTM scored 0.85-0.90 on its
training batches but 0.50-0.67 on validation for that reason; re-estimating the statistics over 60 training
batches, with the weights held fixed, lifted one such epoch from 0.67 to 0.89 validation accuracy. This
callback makes that re-estimate before each validation, so the epoch selected, the checkpoint saved and the
model served all normalize with statistics that match their weights.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import layers


class PreciseBatchNorm(keras.callbacks.Callback):
    """Sets every BatchNormalization layer's moving mean and variance to their average over training batches.

    Each batch runs through the model in training mode with dropout off, as inference sees the features, and
    with momentum 0, so after a batch a layer's moving statistics are that batch's; their average over the
    batches becomes the layer's statistics. A model without BatchNormalization is left untouched.

    Args:
        dataset: the training dataset, yielding (token ids, labels) batches.
        batches: how many of its batches to average over.
    """

    def __init__(self, dataset: tf.data.Dataset, batches: int = 60):
        super().__init__()
        self.dataset = dataset
        self.batches = batches

    def on_test_begin(self, logs=None):
        norms = [layer for layer in self.model.layers if isinstance(layer, layers.BatchNormalization)]
        if norms:
            self.reestimate(norms)

    def reestimate(self, norms: list[layers.BatchNormalization]):
        dropouts = [layer for layer in self.model.layers if isinstance(layer, layers.Dropout)]
        saved = [(layer, "momentum", layer.momentum) for layer in norms]
        saved += [(layer, "rate", layer.rate) for layer in dropouts]
        for layer in norms:
            layer.momentum = 0.0
        for layer in dropouts:
            layer.rate = 0.0
        try:
            # Traced here, after the changes above; one trace serves every batch length.
            forward = tf.function(lambda ids: self.model(ids, training=True),
                                  input_signature=[self.dataset.element_spec[0]])
            sums = [[np.zeros(layer.moving_mean.shape), np.zeros(layer.moving_variance.shape)] for layer in norms]
            count = 0
            for ids, _ in self.dataset.take(self.batches):
                forward(ids)
                for total, layer in zip(sums, norms):
                    total[0] += keras.ops.convert_to_numpy(layer.moving_mean)
                    total[1] += keras.ops.convert_to_numpy(layer.moving_variance)
                count += 1
            for (mean, variance), layer in zip(sums, norms):
                layer.moving_mean.assign(mean / count)
                layer.moving_variance.assign(variance / count)
        finally:
            for layer, name, value in saved:
                setattr(layer, name, value)
