"""`evaluate.py --explain-errors N`: an HTML page of the N most confident errors, each text's words shaded by their
scores towards the class the model wrongly chose, as the web page shades them. The page stands alone (its style
inline): open it from the evaluation folder."""

import re
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from textclf.explain.explainer import Explanation

STRONGEST = 0.75  # a word's shade at its text's largest score, as serving/static/app.js shades the web page
RAISED, LOWERED = (26, 127, 55), (207, 34, 46)
# no space between two words where either side is Chinese, Japanese or Korean script or punctuation (as app.js)
CJK = re.compile("[\u2e80-\u9fff\u3000-\u303f\uac00-\ud7af\uff00-\uffef]")
_TEMPLATES = Environment(loader=PackageLoader("textclf.explain"), autoescape=select_autoescape())


def most_confident_errors(predictions: pd.DataFrame, count: int) -> pd.DataFrame:
    """The `count` rows of `predictions` (text, label, predicted, p_<class>, ...) whose predicted class is wrong,
    the most confident first, with their `confidence`."""
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    wrong = wrong.assign(confidence=wrong.filter(regex="^p_").max(axis=1))
    return wrong.sort_values("confidence", ascending=False, kind="stable").head(count)


def shade(score: float, largest: float) -> str:
    """The CSS colour of a word of score `score` in a text whose largest absolute score is `largest`."""
    red, green, blue = RAISED if score >= 0 else LOWERED
    alpha = STRONGEST * abs(score) / largest if largest > 0 else 0.0
    return f"rgba({red}, {green}, {blue}, {alpha:.3f})"


def _words(explanation: Explanation) -> list[dict]:
    largest = max((abs(score) for score in explanation.scores), default=0.0)
    words, previous = [], ""
    for word, score in zip(explanation.words, explanation.scores):
        space = bool(previous) and not (CJK.match(previous[-1]) or CJK.match(word[:1]))
        words.append({"word": word, "score": score, "colour": shade(score, largest), "space": space})
        previous = word
    return words


def write(errors: pd.DataFrame, explanations: list[Explanation], path: Path, title: str) -> Path:
    """The page at `path`: `errors` (`most_confident_errors`) with each text's explanation, in order."""
    shown = [{"label": row.label, "predicted": row.predicted, "confidence": row.confidence, "text": row.text,
              "method": explanation.method.replace("_", " "), "words": _words(explanation)}
             for row, explanation in zip(errors.itertuples(index=False), explanations)]
    page = _TEMPLATES.get_template("errors.html").render(title=title, errors=shown, raised=RAISED, lowered=LOWERED,
                                                         strongest=STRONGEST)
    path.write_text(page, encoding="utf-8")
    return path
