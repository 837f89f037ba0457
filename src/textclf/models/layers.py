"""Custom layers of the builders. Each one keeps padding out of its result, so that a prediction does not
depend on how much padding its batch has (batches are length-bucketed, and serving pads differently).

All are registered for `.keras` saving and return every constructor argument from `get_config()`.
"""

import keras
import keras_hub
from keras import initializers, layers, ops, regularizers

from textclf.data.pipeline import OOV
from textclf.errors import InputError

register = keras.saving.register_keras_serializable(package="textclf")


@register
class MaskedConv1D(layers.Conv1D):
    """Conv1D that zeroes padded steps before convolving, and passes the padding mask on.

    Zeroed padding looks exactly like Conv1D's own "same" padding, so the outputs at text steps do not change
    with the amount of padding; "valid" would shift the steps against the mask and is refused.
    """

    def __init__(self, filters, kernel_size, padding="same", **kwargs):
        if padding == "valid":
            raise ValueError("MaskedConv1D needs padding='same' or 'causal', to keep its steps aligned with the mask")
        super().__init__(filters, kernel_size, padding=padding, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        # TensorFlow's CPU convolution hands an empty batch back unchanged, and adding the bias then fails
        # (shapes [0, steps, width] vs [1, 1, filters]). Under MirroredStrategy a replica gets an empty batch
        # whenever the last batch has fewer rows than there are replicas.
        return ops.cond(ops.shape(inputs)[0] > 0, lambda: super(MaskedConv1D, self).call(inputs),
                        lambda: ops.zeros((0, ops.shape(inputs)[1], self.filters), inputs.dtype))


@register
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Max over the text steps of (batch, steps, features); padded steps never win, whatever their values."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, float("-inf"))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@register
class MaskedPositionEmbedding(keras_hub.layers.PositionEmbedding):
    """keras-hub's learned PositionEmbedding, passing the padding mask on.

    Without it `Add()([tokens, positions])` would drop the mask (Add keeps one only if every input has one),
    and the encoder would attend to padding.
    """

    def __init__(self, sequence_length, **kwargs):
        super().__init__(sequence_length, **kwargs)
        self.supports_masking = True


@register
class AttentionPooling(layers.Layer):
    """Additive attention pooling (Bahdanau et al. 2015): a learned weighted mean of the text steps.

    score_t = v . tanh(W h_t + b), weights = softmax of the scores over the text steps, output = sum_t weight_t h_t.

    Args:
        units: width of the scoring layer (W's output).
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        init, reg = self.kernel_initializer, self.kernel_regularizer
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer=init, regularizer=reg)
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")
        self.score_vector = self.add_weight(shape=(self.units, 1), initializer=init)

    def call(self, inputs, mask=None):
        hidden = ops.tanh(ops.matmul(inputs, self.kernel) + self.bias)
        # float32 scores: a float16 softmax over hundreds of steps underflows.
        scores = ops.cast(ops.squeeze(ops.matmul(hidden, self.score_vector), -1), "float32")
        if mask is not None:
            scores = ops.where(mask, scores, float("-inf"))
        weights = ops.cast(ops.softmax(scores, axis=-1), inputs.dtype)
        return ops.sum(ops.expand_dims(weights, -1) * inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
        }


@register
class Capsule(layers.Layer):
    """Capsules with dynamic routing (Sabour et al. 2017) over a sequence whose steps are the input capsules.

    One transformation matrix is shared by all steps (they are positions, not distinct parts), so any length
    works; padded steps take no part in routing. Output: (batch, num_capsules, capsule_dim), vectors of length < 1.

    Args:
        num_capsules: output capsules.
        capsule_dim: width of each output capsule.
        routings: routing iterations; the paper's 3.
    """

    def __init__(
        self,
        num_capsules,
        capsule_dim,
        routings=3,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_capsules = num_capsules
        self.capsule_dim = capsule_dim
        self.routings = routings
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.num_capsules * self.capsule_dim),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def call(self, inputs, mask=None):
        # Routing runs in float32: squared norms of sums over hundreds of steps overflow float16.
        predictions = ops.cast(ops.matmul(inputs, self.kernel), "float32")
        batch, steps = ops.shape(inputs)[0], ops.shape(inputs)[1]
        predictions = ops.reshape(predictions, (batch, steps, self.num_capsules, self.capsule_dim))
        predictions = ops.transpose(predictions, (0, 2, 1, 3))  # (batch, out capsule, step, dim)
        logits = ops.zeros_like(predictions[..., 0])
        keep = 1.0 if mask is None else ops.expand_dims(ops.cast(mask, "float32"), 1)
        for iteration in range(self.routings):
            coupling = ops.softmax(logits, axis=1) * keep  # each step splits itself among the output capsules
            outputs = _squash(ops.sum(ops.expand_dims(coupling, -1) * predictions, axis=2))
            if iteration < self.routings - 1:
                logits = logits + ops.sum(ops.expand_dims(outputs, 2) * predictions, axis=-1)
        return ops.cast(outputs, self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_capsules, self.capsule_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "num_capsules": self.num_capsules,
            "capsule_dim": self.capsule_dim,
            "routings": self.routings,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
        }


def _squash(vectors, epsilon=1e-7):
    """Shrinks each vector to a length in [0, 1), keeping its direction: |v|^2 / (1 + |v|^2) * v / |v|."""
    squared_norm = ops.sum(ops.square(vectors), axis=-1, keepdims=True)
    return vectors * squared_norm / (1.0 + squared_norm) / ops.sqrt(squared_norm + epsilon)


@register
class BigramHashing(layers.Layer):
    """Token ids -> hashed ids of each (token, next token) pair, 0 where the pair runs into padding.

    bigram_t = (ids_t * 116049371 + ids_t+1) % buckets + 1, fastText's n-gram hash (Dictionary::addWordNgrams);
    id 0 stays free for "no bigram", which an Embedding with mask_zero skips. The output has the input's length.
    The multiplier is a prime, so it shares no factor with a table size like 2,000,000. The obvious hash,
    (a * vocab_size + b) % buckets, does: with 10,000 words and 200,000 buckets it kept only a mod 20 of the
    first word, so "not good" shared its row with the pairs of every 20th word and "good".

    Args:
        buckets: rows of the bigram table, not counting row 0.
    """

    MULTIPLIER = 116_049_371

    def __init__(self, buckets, **kwargs):
        super().__init__(**kwargs)
        self.buckets = buckets

    def call(self, inputs):
        ids = ops.cast(inputs, "int64")  # ids * MULTIPLIER overflows int32 from id 19 on
        next_ids = ops.pad(ids[:, 1:], [[0, 0], [0, 1]])
        hashed = (ids * self.MULTIPLIER + next_ids) % self.buckets + 1
        is_pair = ops.logical_and(ids > 0, next_ids > 0)
        return ops.cast(ops.where(is_pair, hashed, 0), "int32")

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="int32")

    def get_config(self):
        return {**super().get_config(), "buckets": self.buckets}

    @classmethod
    def from_config(cls, config):
        if "vocab_size" in config:  # saved before 8769441, by the hash this layer no longer computes
            raise InputError("this model was saved with fasttext's old bigram hash, which the code no longer "
                             "computes; train it again")
        return cls(**config)


@register
class TransformerBlock(keras_hub.layers.TransformerEncoder):
    """keras-hub's encoder block with a dropout rate of its own on the attention probabilities.

    keras-hub's block uses one `dropout` for the attention probabilities and the residual branches. With
    `attention_dropout` 0, Keras' MultiHeadAttention takes its fused `dot_product_attention` path instead of
    materialising and dropping the probabilities: about half the time of a step on this CPU (issue 21).

    Args:
        attention_dropout: the rate on the attention probabilities; None: `dropout`'s.
        *args, **kwargs: keras-hub's `TransformerEncoder`'s.
    """

    def __init__(self, *args, attention_dropout=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.attention_dropout = self.dropout if attention_dropout is None else attention_dropout

    def build(self, inputs_shape):
        super().build(inputs_shape)
        if self.attention_dropout != self.dropout:
            # Keras' attention reads its rate when called: 0 selects the fused path, more the explicit one, whose
            # Dropout must be made at that rate (a Dropout made at 0 has no seed generator).
            attention = self._self_attention_layer
            attention._tracker.unlock()
            attention._dropout = self.attention_dropout
            attention._dropout_layer = layers.Dropout(self.attention_dropout, dtype=attention.dtype_policy)
            attention._tracker.lock()

    def get_config(self):
        return {**super().get_config(), "attention_dropout": self.attention_dropout}


@register
class NBLinear(layers.Layer):
    """Logits of a linear model over binarised features scaled by fixed ratios: for class c,
    sum over the row's distinct ids f of r[f, c] * (w[f, c] + offset) + b[c].

    `w` starts at 0, so with `offset` > 0 the untrained model is naive Bayes (scaled), and training moves each
    weight from there: NBSVM's interpolation between the NB and the discriminative weights, learnt
    end to end. `offset` 0 is logistic regression on the scaled features. The ratios are a non-trainable
    weight, assigned after building, so they are saved with the weights and not in the config.

    Args:
        vocab_size, num_classes: the ratios' shape.
        offset: added to every trainable weight.
        kernel_regularizer: penalty on `w`.
    """

    def __init__(self, vocab_size, num_classes, offset=0.0, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.offset = offset
        self.kernel_regularizer = regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        shape = (self.vocab_size, self.num_classes)
        self.kernel = self.add_weight(shape=shape, initializer="zeros", regularizer=self.kernel_regularizer,
                                      name="kernel")
        self.ratios = self.add_weight(shape=shape, initializer="zeros", trainable=False, name="ratios")
        self.bias = self.add_weight(shape=(self.num_classes,), initializer="zeros", name="bias")

    def call(self, ids):
        ids = ops.sort(ids, axis=-1)  # repeats side by side; padding (0) first
        first = ops.concatenate([ops.ones_like(ids[:, :1], dtype="bool"), ids[:, 1:] != ids[:, :-1]], axis=1)
        counted = ops.cast(ops.logical_and(first, ids > OOV), self.compute_dtype)
        weights = ops.take(self.kernel, ids, axis=0) + ops.cast(self.offset, self.compute_dtype)
        scaled = weights * ops.take(self.ratios, ids, axis=0)
        return ops.sum(scaled * counted[..., None], axis=1) + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "num_classes": self.num_classes,
                "offset": self.offset, "kernel_regularizer": regularizers.serialize(self.kernel_regularizer)}


# What a model of the builders may hold (`serving.predictor.CUSTOM_OBJECTS` gives them to Keras when it loads one).
CUSTOM_LAYERS = (MaskedConv1D, MaskedGlobalMaxPooling1D, MaskedPositionEmbedding, AttentionPooling, Capsule,
                 BigramHashing, TransformerBlock, NBLinear)
