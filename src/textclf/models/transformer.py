"""A small Transformer encoder with learned positions and masked mean pooling."""

import keras
from keras import layers

from textclf.models.blocks import classifier, embedded_tokens
from textclf.models.layers import MaskedPositionEmbedding, TransformerBlock


def transformer(vocab_size: int, num_classes: int, *, embedding_dim: int = 64, num_heads: int = 4,
                intermediate_dim: int = 128, num_layers: int = 2, dropout: float = 0.1, attention_dropout: float = 0.1,
                max_len: int = 512, embeddings=None, freeze_embeddings: bool = False) -> keras.Model:
    """Token + position embedding -> LayerNorm -> TransformerEncoder x num_layers -> masked mean -> softmax.

    Padding is masked everywhere: the encoders' attention and the mean skip it. No L2.

    Args:
        embedding_dim: small: a few epochs of 25k reviews cannot fit a BERT-sized encoder.
        attention_dropout: on the attention probabilities; 0 lets Keras fuse attention (2x faster).
        max_len: rows of the position table, the longest input the model accepts; a run passes its
            --max-len here (run.py), and serving cuts texts to the same length.
        The others: those every builder takes (`blocks.embedded_tokens`), and the encoders' sizes and rates.
    """
    inputs, tokens = embedded_tokens(vocab_size, embedding_dim, embeddings, freeze_embeddings)
    positions = MaskedPositionEmbedding(max_len)(tokens)
    x = layers.Add()([tokens, positions])
    # As BERT: puts pretrained vectors and fresh positions on one scale before attention.
    x = layers.LayerNormalization()(x)
    x = layers.Dropout(dropout)(x)
    for _ in range(num_layers):
        x = TransformerBlock(intermediate_dim, num_heads, dropout=dropout, attention_dropout=attention_dropout)(x)
    x = layers.GlobalAveragePooling1D()(x)  # masked mean: the Keras mask reaches it through the encoders
    return classifier(inputs, x, num_classes, "transformer", dropout=dropout)
