// The dashboard's search boxes: POST the typed text to the collection's search route and list
// the hits. Results are inserted as text (textContent), never as HTML.
"use strict";

function showError(section, message) {
  const box = section.querySelector(".error");
  box.textContent = message;
  box.hidden = !message;
}

function renderHits(section, results, tookMs) {
  const list = section.querySelector(".hits");
  list.replaceChildren();
  for (const hit of results) {
    const li = document.createElement("li");
    li.className = "hit";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = Number(hit.score).toFixed(4);
    const id = document.createElement("code");
    id.className = "hit-id";
    id.textContent = String(hit.id);
    const text = document.createElement("span");
    text.className = "hit-text";
    text.textContent = hit.text || JSON.stringify(hit.metadata);
    li.append(score, " ", id, " ", text);
    list.append(li);
  }
  list.dataset.count = String(results.length);
  list.dataset.tookMs = String(tookMs);
  if (!results.length) {
    showError(section, "no hits");
  }
}

async function search(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const section = form.closest("section");
  const name = form.dataset.collection;
  const text = form.elements.q.value;
  const k = Number(form.elements.k.value) || 5;
  showError(section, "");
  try {
    const response = await fetch(`/collections/${encodeURIComponent(name)}/search`, {
      method: "POST",
      headers: {"content-type": "application/json"},
      credentials: "same-origin",
      body: JSON.stringify({text: text, k: k}),
    });
    const body = await response.json();
    if (!response.ok) {
      showError(section, `${body.error || response.status}: ${body.detail || ""}`);
      return;
    }
    renderHits(section, body.results, body.took_ms);
  } catch (err) {
    showError(section, `search failed: ${err}`);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form.search")) {
    form.addEventListener("submit", search);
  }
});
