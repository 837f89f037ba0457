"""textclf: train, evaluate, compare and serve text classifiers with Keras 3."""
