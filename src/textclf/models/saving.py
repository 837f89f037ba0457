"""Keras saving for textclf's layers and models that hold other Keras objects (a vectorizer, a classifier, a
tokenizer): their config is their constructor's arguments, the Keras objects among them serialized."""

import keras


class Composite:
    """A mixin, before the Keras class, for a layer or model whose constructor takes Keras objects (`KERAS_ARGS`)
    and plain values (`VALUE_ARGS`), each kept as the attribute of its name. Its config holds them all, the Keras
    objects serialized; loading deserializes those, then calls the constructor. The names are the config's keys,
    which saved models hold: renaming one breaks loading them."""

    KERAS_ARGS: tuple[str, ...] = ()
    VALUE_ARGS: tuple[str, ...] = ()

    def get_config(self):
        return {**super().get_config(),
                **{name: keras.saving.serialize_keras_object(getattr(self, name)) for name in self.KERAS_ARGS},
                **{name: getattr(self, name) for name in self.VALUE_ARGS}}

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, **{name: keras.saving.deserialize_keras_object(config[name])
                                   for name in cls.KERAS_ARGS}})
