"""The `ngram` family: NBSVM (`textclf/models/nbsvm.py`) over the binarised word n-grams of the text, scaled by
naive-Bayes ratios counted on the training split.

Texts go through jieba and the --text-filter as in `scratch`, then a TextVectorization of 1- to n-grams
adapted on train (and a --teacher's transfer set); its ids are a text's unigrams, then its bigrams, then its
trigrams, cut to --max-len from the start (`--truncate post`) so the unigrams are the last to go. Batches,
training order and the raw-text export are `scratch`'s. The family contract is in `textclf.families`.
"""

import dataclasses

import keras
import numpy as np
from loguru import logger

from textclf.config import RunConfig
from textclf.data import pipeline, splits, text
from textclf.errors import InputError
from textclf.families import Prepared, scratch
from textclf.models import nbsvm
from textclf.models.blocks import RunInputs

resolve = scratch.resolve
compile_model = scratch.compile_model
serving_model = scratch.serving_model


@dataclasses.dataclass(frozen=True)
class State:
    vectorizer: keras.layers.TextVectorization  # 1- to n-grams, adapted on the training split
    ratios: np.ndarray  # (vocabulary, classes) log-count ratios of the training split


def check(config: RunConfig):
    """Refuses a cut that would drop unigrams before trigrams, an objective that needs dropout or pooled features,
    and a model_args key nbsvm does not take."""
    if config.truncate not in (None, "post"):
        raise InputError(f"--truncate {config.truncate}: nbsvm's ids are a text's unigrams, then bigrams, then "
                         "trigrams; it keeps the first --max-len (post)")
    if config.objective != "ce":
        raise InputError(f"--objective {config.objective} needs dropout or pooled features; nbsvm is one linear "
                         "layer (ce only)")
    scratch.check_model_args(config)
    if "ngrams" in config.model_args and config.model_args["ngrams"] < 1:
        raise InputError(f"model_args ngrams: expected at least 1, got {config.model_args['ngrams']}")


model_settings = scratch.model_settings  # nbsvm's `Settings`, as a from-scratch model's


def _train_rows(vectorizer, texts: list[str], config: RunConfig):
    """Each training text's ids, cut as the model sees them."""
    for start in range(0, len(texts), pipeline.VECTORIZE_CHUNK):
        ids = pipeline.clip_tokens(vectorizer(texts[start:start + pipeline.VECTORIZE_CHUNK]), config.max_len,
                                   config.truncate)
        yield from np.split(ids.flat_values.numpy(), ids.row_splits.numpy()[1:-1])


def prepare(config: RunConfig, data: splits.Splits, *, global_batch: int, replicas: int) -> Prepared:
    """The n-gram vocabulary (from train and a --teacher's transfer set), the ratios (from train only), the three
    batched datasets and the training order."""
    settings = scratch.settings_of(config)  # its n-grams and the ratios' smoothing
    texts = scratch.prepared_texts(config, data)
    vectorizer = text.make_vectorizer(config.tokenizer, config.vocab_size, ngrams=settings.ngrams)
    vectorizer.adapt(texts["train"], batch_size=pipeline.VECTORIZE_CHUNK)
    num_classes = len(data.class_names)
    labelled = texts["train"][:len(data.train)]  # not a --teacher's transfer set: the ratios count gold labels
    ratios = nbsvm.log_count_ratios(_train_rows(vectorizer, labelled, config), data.train["label"].to_numpy(),
                                    vectorizer.vocabulary_size(), num_classes, alpha=settings.alpha)
    logger.info(f"nbsvm: {vectorizer.vocabulary_size():,} 1- to {settings.ngrams}-grams")
    datasets, shuffle = scratch.batched(config, data, texts, vectorizer, global_batch=global_batch,
                                        replicas=replicas)
    return Prepared(datasets, (shuffle,), {}, State(vectorizer, ratios))


def build(config: RunConfig, prepared: Prepared, num_classes: int) -> keras.Model:
    """nbsvm with the model's settings and the training split's ratios."""
    run = RunInputs(prepared.state.vectorizer.vocabulary_size(), num_classes, config.max_len)
    return nbsvm.nbsvm(run, scratch.settings_of(config), prepared.state.ratios)
