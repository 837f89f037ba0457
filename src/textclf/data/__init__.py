"""Datasets, text cleaning, tokenizers and tf.data pipelines."""
