"""The real page in headless Chromium against the real server: type a review and Analyze, click an
example, leave the box empty; what the page shows must be the API's answer for the same text, its words shaded
by the API's explanation (checked on a screenshot), in English (the IMDB run) and Chinese (the Weibo run).

Needs Debian's chromium and chromium-driver (.ci/run installs them); without them the test is
skipped on a developer's machine and fails in CI."""

import io
import json
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REVIEW = "A wonderful film: I laughed, I cried, and I would gladly watch it again."
RAISED, LOWERED = (26, 127, 55), (207, 34, 46)  # app.js's shades, at their strongest (STRONGEST) on white
STRONGEST = 0.75


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        missing = "no headless Chromium: apt-get install -y chromium chromium-driver (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # no download: Debian's driver
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def english_url(runs):
    """A real serve.py serving the English run (IMDB, words)."""
    from launch import running_server  # tests/serving/launch.py

    with running_server(runs["imdb"]) as url:
        yield url


@pytest.fixture
def page(browser, server_url):
    browser.get(server_url)
    return browser


@pytest.fixture(params=["weibo", "imdb"])
def run_page(request, browser):
    """The page of the Chinese or the English run, the run's name in `runs` and the API's answer for a payload."""
    url = request.getfixturevalue("server_url" if request.param == "weibo" else "english_url")
    browser.get(url)

    def api(payload) -> dict:
        post = urllib.request.Request(f"{url}/api/predict", data=json.dumps(payload).encode(),
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(post, timeout=60) as response:
            return json.load(response)

    return browser, request.param, api


def shown(page) -> dict:
    """What the page shows once its answer (or error) is in."""
    WebDriverWait(page, 60).until(lambda p: p.find_element(By.ID, "result").get_attribute("data-state") != "loading")
    result = page.find_element(By.ID, "result")
    if result.get_attribute("data-state") == "error":
        return {"error": page.find_element(By.ID, "error").text}
    return {"label": page.find_element(By.ID, "label").get_attribute("textContent"),
            "confidence": float(result.get_attribute("data-confidence")),
            "percent": page.find_element(By.ID, "confidence").text,
            "bar": page.find_element(By.ID, "bar").get_attribute("style")}


def assert_shows(page, text, api):
    status, body = api({"text": text})
    expected = body["predictions"][0]
    answer = shown(page)
    assert status == 200 and answer["label"] == expected["label"] and answer["confidence"] == expected["confidence"]
    percent = float(answer["percent"].removesuffix("%"))
    assert abs(percent - 100 * expected["confidence"]) <= 0.05 + 1e-9  # one decimal, as the page rounds
    assert float(answer["bar"].removeprefix("width: ").removesuffix("%;")) == percent


@pytest.mark.large
def test_page_names_the_loaded_run(page, runs):
    assert page.find_element(By.ID, "run").text == runs["weibo"].name
    assert page.find_element(By.ID, "dataset").text == "weibo" and page.find_element(By.ID, "model").text == "lstm"


def test_typed_review_shows_the_apis_answer(page, api):
    page.find_element(By.ID, "text").send_keys(REVIEW)
    page.find_element(By.ID, "analyze").click()
    assert_shows(page, REVIEW, api)


def test_examples_are_the_runs_own_test_texts_one_per_class(run_page, runs, test_splits):
    page, name, _ = run_page
    split, run_dir = test_splits[name], runs[name]
    offered = [(example.get_attribute("data-label"),
                example.find_element(By.CLASS_NAME, "example-text").get_attribute("textContent"))
               for example in page.find_elements(By.CLASS_NAME, "example")]
    assert [label for label, _ in offered] == json.loads((run_dir / "classes.json").read_text())
    assert all(((split["text"] == text) & (split["label"] == label)).any() for label, text in offered)


def _background(element) -> np.ndarray:
    """The commonest colour (RGB, 0-255) of `element` as the browser drew it: its background, not its glyphs."""
    pixels = (image.imread(io.BytesIO(element.screenshot_as_png))[..., :3] * 255).round().astype(int).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    return colours[counts.argmax()]


def _on_white(colour, alpha: float) -> np.ndarray:
    return 255 + (np.array(colour) - 255) * alpha


def test_clicked_example_shows_the_prediction_its_true_label_and_shaded_words(run_page):
    page, _, api = run_page
    example = page.find_elements(By.CLASS_NAME, "example")[-1]
    example.click()
    text = page.find_element(By.ID, "text").get_property("value")
    expected = api({"text": text, "explain": True})["predictions"][0]
    answer = shown(page)
    assert text == example.find_element(By.CLASS_NAME, "example-text").get_attribute("textContent")
    assert answer["label"] == expected["label"] and answer["confidence"] == expected["confidence"]
    assert page.find_element(By.ID, "truth").text == f"true label: {example.get_attribute('data-label')}"
    assert page.find_element(By.ID, "explained-class").text == expected["explanation"]["class"]
    words = page.find_elements(By.CSS_SELECTOR, "#words .word")
    tokens = expected["explanation"]["tokens"]
    assert [(w.text, float(w.get_attribute("data-score"))) for w in words] == [(t["token"], t["score"]) for t in tokens]
    scores = np.array([t["score"] for t in tokens])
    strongest = int(np.abs(scores).argmax())
    colour = RAISED if scores[strongest] >= 0 else LOWERED
    assert np.abs(_background(words[strongest]) - _on_white(colour, STRONGEST)).max() <= 3
    weakest = int(np.abs(scores).argmin())
    faint = _on_white(RAISED if scores[weakest] >= 0 else LOWERED, STRONGEST * abs(scores[weakest]) / abs(scores).max())
    assert np.abs(_background(words[weakest]) - faint).max() <= 3
    legend = page.find_element(By.ID, "legend")
    assert legend.is_displayed() and page.find_element(By.ID, "legend-high").text.startswith("+")


def test_both_signs_are_shaded_apart(page, api):
    text = "手机用了三天就坏了，客服一直推脱，太失望了。不过外观很好看，拍照也清楚。"
    page.find_element(By.ID, "text").send_keys(text)
    page.find_element(By.ID, "analyze").click()
    shown(page)
    tokens = api({"text": text, "explain": True})[1]["predictions"][0]["explanation"]["tokens"]
    words = page.find_elements(By.CSS_SELECTOR, "#words .word")
    assert len(words) == len(tokens)
    raised = max(range(len(tokens)), key=lambda i: tokens[i]["score"])
    lowered = min(range(len(tokens)), key=lambda i: tokens[i]["score"])
    assert tokens[raised]["score"] > 0 > tokens[lowered]["score"]  # the text has words on both sides
    red, green = _background(words[lowered]), _background(words[raised])
    assert green[1] > green[0] and red[0] > red[1]  # green and red, as the legend says
    assert page.find_element(By.ID, "words").text == "".join(t["token"] for t in tokens)  # no space in Chinese


def test_without_why_the_page_shows_no_explanation(page):
    page.find_element(By.ID, "explain").click()
    page.find_element(By.ID, "text").send_keys(REVIEW)
    page.find_element(By.ID, "analyze").click()
    assert "label" in shown(page) and not page.find_element(By.ID, "explanation").is_displayed()


def test_empty_box_shows_the_apis_error(page):
    page.find_element(By.ID, "analyze").click()
    assert shown(page) == {"error": '"text" is empty'}
