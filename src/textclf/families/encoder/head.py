"""The classifier on a pretrained encoder: pooling, dropout and a float32 softmax, and its settings."""

import keras

from textclf.families.pretrained.fine_tuning import DROPOUT

# The classification head's settings (`encoder.build_classifier`), which model_args may set: what each takes.
SETTINGS = {
    "pooling": ("first or mean", lambda value: value in ("first", "mean")),
    "dropout": DROPOUT,
}


def build_classifier(backbone, num_classes: int, *, pooling: str = "first", dropout: float = 0.1) -> keras.Model:
    """backbone -> pooled text vector -> dropout -> dense -> float32 softmax, on the backbone's input dict.

    `pooling="first"`: BERT and ALBERT's pooler; the others pool their first token through a tanh dense layer,
    as keras-hub's RoBERTa, DistilBERT and DeBERTaV3 classifiers do. `"mean"`: the mean of the unpadded
    tokens' vectors, as sentence-embedding checkpoints (all-MiniLM-L6-v2 among them) were trained to pool;
    their pooler was not trained with them.
    """
    inputs = backbone.input
    outputs = backbone(inputs)
    sequence = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
    if pooling == "mean":
        # In float32: a bfloat16 sum of up to max_len vectors (8 bits of mantissa) moves with the padding.
        pooled = keras.layers.GlobalAveragePooling1D(name="mean_pooling", dtype="float32")(
            sequence, mask=inputs["padding_mask"])
        for layer in backbone.layers:
            if layer.name == "pooled_dense":  # BERT's and ALBERT's pooler, unused: no gradient reaches it
                layer.trainable = False
    elif isinstance(outputs, dict) and "pooled_output" in outputs:
        pooled = outputs["pooled_output"]
    else:
        pooled = keras.layers.Dense(sequence.shape[-1], activation="tanh", name="pooled_dense")(sequence[:, 0, :])
    x = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, probabilities, name="encoder_classifier")
