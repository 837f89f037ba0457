"""A small Transformer encoder with learned positions and masked mean pooling."""

import dataclasses

import keras
from keras import layers

from textclf.models.blocks import RunInputs, classifier, embedded_tokens
from textclf.models.layers import MaskedPositionEmbedding, TransformerBlock


@dataclasses.dataclass(frozen=True)
class Settings:
    """The encoders' sizes and rates. No L2. The position table's rows are the run's --max-len (`RunInputs`)."""

    embedding_dim: int = 64  # small: a few epochs of 25k reviews cannot fit a BERT-sized encoder
    num_heads: int = 4
    intermediate_dim: int = 128
    num_layers: int = 2
    dropout: float = 0.1
    attention_dropout: float = 0.1  # on the attention probabilities; 0 lets Keras fuse attention (2x faster)


def transformer(run: RunInputs, settings: Settings = Settings()) -> keras.Model:
    """Token + position embedding -> LayerNorm -> TransformerEncoder x num_layers -> masked mean -> softmax.

    Padding is masked everywhere: the encoders' attention and the mean skip it. The position table has
    `run.max_len` rows, the longest input the model accepts; serving cuts texts to the same length.
    """
    inputs, tokens = embedded_tokens(run, settings.embedding_dim)
    positions = MaskedPositionEmbedding(run.max_len)(tokens)
    x = layers.Add()([tokens, positions])
    # As BERT: puts pretrained vectors and fresh positions on one scale before attention.
    x = layers.LayerNormalization()(x)
    x = layers.Dropout(settings.dropout)(x)
    for _ in range(settings.num_layers):
        x = TransformerBlock(settings.intermediate_dim, settings.num_heads, dropout=settings.dropout,
                             attention_dropout=settings.attention_dropout)(x)
    x = layers.GlobalAveragePooling1D()(x)  # masked mean: the Keras mask reaches it through the encoders
    return classifier(inputs, x, run.num_classes, "transformer", dropout=settings.dropout)
