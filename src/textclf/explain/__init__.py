"""Why a run predicted what it did: a score for each word of a text (the run's own tokens, in text order) towards
one class; above 0, the word made the class more likely.

- `integrated_gradients` (`gradients.py`): on the token embeddings, for the differentiable families (scratch,
  encoders, decoders); the default where it applies: the most faithful on every run measured (ERASER
  comprehensiveness, `benchmarks/faithfulness.py`; docs/benchmarks/issue-32-explanations.md).
- `occlusion` (`occlusion.py`): leave one word out, through the exported raw-text model, for any run (nbsvm and
  ensembles included).

`reading.py` finds a text's words and the model's input places of each; `explainer.Explainer` puts them together
for one loaded model, as serving (`serving.predictor.Predictor.explain`) uses it. This file imports nothing (no
TensorFlow): the command lines read `METHODS` before loading a model.
"""

METHODS = ("integrated_gradients", "occlusion")  # the default first, where it applies
# the time a run's top_tokens.csv may take, as a share of the run's training time (evaluate.py's too)
SHARE_OF_TRAINING = 0.1
