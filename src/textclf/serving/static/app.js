"use strict";

const box = document.getElementById("text");
const explainBox = document.getElementById("explain");
const result = document.getElementById("result");
const errorLine = document.getElementById("error");
// a word's shade at the largest score of its text: strong, but the word stays readable
const STRONGEST = 0.75;
const RAISED = [26, 127, 55];
const LOWERED = [207, 34, 46];
// no space is put between two words where either side is Chinese, Japanese or Korean script or punctuation
const CJK = /[\u2e80-\u9fff\u3000-\u303f\uac00-\ud7af\uff00-\uffef]/u;
let latest = 0; // only the answer to the newest request is shown

function percent(p) {
  return (100 * p).toFixed(1) + "%";
}

function shade(score, largest) {
  const [r, g, b] = score >= 0 ? RAISED : LOWERED;
  const alpha = largest > 0 ? STRONGEST * Math.abs(score) / largest : 0;
  return `rgba(${r}, ${g}, ${b}, ${alpha.toFixed(3)})`;
}

function showExplanation(explanation) {
  const section = document.getElementById("explanation");
  if (!explanation) {
    section.hidden = true;
    return;
  }
  const largest = Math.max(0, ...explanation.tokens.map((t) => Math.abs(t.score)));
  const words = document.getElementById("words");
  const parts = [];
  explanation.tokens.forEach(({token, score}, i) => {
    const previous = i > 0 ? explanation.tokens[i - 1].token : "";
    if (i > 0 && !CJK.test(previous.slice(-1)) && !CJK.test(token[0])) parts.push(" ");
    const word = document.createElement("span");
    word.className = "word";
    word.textContent = token;
    word.dataset.score = score;
    word.title = `${score >= 0 ? "+" : ""}${score.toPrecision(3)}`;
    word.style.backgroundColor = shade(score, largest);
    parts.push(word);
  });
  words.replaceChildren(...parts);
  document.getElementById("explained-class").textContent = explanation.class;
  document.getElementById("explained-class-again").textContent = explanation.class;
  document.getElementById("method").textContent = explanation.method.replace("_", " ");
  document.getElementById("legend-low").textContent = `−${largest.toPrecision(2)}`;
  document.getElementById("legend-high").textContent = `+${largest.toPrecision(2)}`;
  section.hidden = false;
}

function show(prediction, truth) {
  document.getElementById("label").textContent = prediction.label;
  document.getElementById("confidence").textContent = percent(prediction.confidence);
  document.getElementById("bar").style.width = percent(prediction.confidence);
  const truthLine = document.getElementById("truth");
  truthLine.textContent = truth === undefined ? "" : `true label: ${truth}`;
  truthLine.hidden = truth === undefined;
  const list = document.getElementById("probabilities");
  list.replaceChildren(...Object.entries(prediction.probabilities).map(([name, p]) => {
    const item = document.createElement("li");
    item.textContent = `${name}: ${percent(p)}`;
    return item;
  }));
  showExplanation(prediction.explanation);
  result.dataset.label = prediction.label;
  result.dataset.confidence = prediction.confidence; // full precision, for scripts and tests
  result.hidden = false;
  result.dataset.state = "done";
}

function showError(message) {
  errorLine.textContent = message;
  errorLine.hidden = false;
  result.hidden = true;
  result.dataset.state = "error";
}

// truth: the example's true label; undefined for a typed text
async function analyze(truth) {
  const request = ++latest;
  result.dataset.state = "loading";
  errorLine.hidden = true;
  try {
    const payload = explainBox.checked ? {text: box.value, explain: true} : {text: box.value};
    const response = await fetch("/api/predict", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(payload),
    });
    const body = await response.json();
    if (request !== latest) return;
    if (!response.ok) throw new Error(body.error);
    show(body.predictions[0], truth);
  } catch (err) {
    if (request === latest) showError(err.message);
  }
}

document.getElementById("form").addEventListener("submit", (event) => {
  event.preventDefault();
  analyze();
});

box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    analyze();
  }
});

for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    box.value = example.querySelector(".example-text").textContent;
    analyze(example.dataset.label);
  });
}
