"use strict";

const box = document.getElementById("text");
const result = document.getElementById("result");
const errorLine = document.getElementById("error");
let latest = 0; // only the answer to the newest request is shown

function percent(p) {
  return (100 * p).toFixed(1) + "%";
}

function show(prediction) {
  document.getElementById("label").textContent = prediction.label;
  document.getElementById("confidence").textContent = percent(prediction.confidence);
  document.getElementById("bar").style.width = percent(prediction.confidence);
  const list = document.getElementById("probabilities");
  list.replaceChildren(...Object.entries(prediction.probabilities).map(([name, p]) => {
    const item = document.createElement("li");
    item.textContent = `${name}: ${percent(p)}`;
    return item;
  }));
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

async function analyze() {
  const request = ++latest;
  result.dataset.state = "loading";
  errorLine.hidden = true;
  try {
    const response = await fetch("/api/predict", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: box.value}),
    });
    const body = await response.json();
    if (request !== latest) return;
    if (!response.ok) throw new Error(body.error);
    show(body.predictions[0]);
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
    box.value = example.textContent.trim();
    analyze();
  });
}
