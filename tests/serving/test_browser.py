"""The real page in headless Chromium against the real server: type a review and Analyze, click an
example, leave the box empty; what the page shows must be the API's answer for the same text.

Needs Debian's chromium and chromium-driver (.ci/run installs them); without them the test is
skipped on a developer's machine and fails in CI."""

import os
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REVIEW = "A wonderful film: I laughed, I cried, and I would gladly watch it again."


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


@pytest.fixture
def page(browser, server_url):
    browser.get(server_url)
    return browser


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


@pytest.mark.parametrize("language", ["en", "zh"])
def test_clicked_example_fills_the_box_and_shows_the_apis_answer(page, api, language):
    example = page.find_element(By.CSS_SELECTOR, f'.example[lang="{language}"]')
    example.click()
    text = page.find_element(By.ID, "text").get_property("value")
    assert text == example.text.strip() and text
    assert_shows(page, text, api)


def test_empty_box_shows_the_apis_error(page):
    page.find_element(By.ID, "analyze").click()
    assert shown(page) == {"error": '"text" is empty'}
