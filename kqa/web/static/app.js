// The kqa page: plain DOM, no build step. Server text is always set with textContent (never parsed as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const ORIGIN = {  // how a fact was found, in words a newcomer can read
  direct: "links a question concept to this answer",
  "two-hop": "on a two-step path from the question to this answer",
  choice: "about this answer's concept",
  dense: "similar in meaning to the question's key words + answer",
  control: "control fact",
};

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function status(id, message, kind) {
  const box = $(id);
  box.textContent = message || "";
  box.className = "status" + (kind ? " " + kind : "");
}

async function call(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error("the kqa server cannot be reached; is `kqa serve` still running?");
  }
  let body = null;
  try { body = await response.json(); } catch (err) { /* not JSON: keep null */ }
  if (!response.ok) {
    const error = new Error((body && body.error) || `the server answered ${response.status}`);
    error.body = body;
    throw error;
  }
  return body;
}

async function loadInfo() {
  try {
    const info = await call("/api/info");
    const graph = info.graph ? `graph ${info.graph}` : "no knowledge graph (start with --graph DIR to add one)";
    $("setup").textContent = `Model: ${info.model} · ${graph}` +
      (info.reads_facts ? " · the model reads the facts" : " · the model does not read the facts");
    $("question").maxLength = info.limits.question;
    if (!info.graph) $("graph-card").classList.add("hidden");
  } catch (err) {
    $("setup").textContent = err.message;
  }
}

async function ask(event) {
  event.preventDefault();
  const choices = $("choices").value.split("\n").map((c) => c.trim()).filter((c) => c);
  const button = $("ask");
  button.disabled = true;
  status("ask-status", "Thinking… (the model scores every answer)");
  try {
    const result = await call("/api/ask", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({question: $("question").value, choices, explain: $("explain").checked}),
    });
    showAnswer(result);
    status("ask-status", result.graph_note, result.graph_note ? "note" : "");
    loadStats();
  } catch (err) {
    status("ask-status", err.message, "error");
  } finally {
    button.disabled = false;
  }
}

function showAnswer(result) {
  const prediction = result.prediction;
  const best = prediction.choices.find((c) => c.label === prediction.predicted);
  const answer = $("answer");
  answer.textContent = "Answer: ";
  answer.appendChild(el("b", `${best.label}. ${best.text}`));
  answer.appendChild(el("span", `  (${pct(best.probability)}, ${result.seconds.toFixed(2)} s)`, "muted"));
  const list = $("choices-out");
  list.replaceChildren(...prediction.choices.map((c, i) =>
    choiceRow(c, c.label === prediction.predicted, (result.choice_concepts || [])[i] || [], result.attribution)));
  $("attribution").textContent = "Effect on answer: " + (result.attribution || "not computed") +
    " (+ means the fact made the chosen answer more likely, − less likely).";
  $("evidence-png").src = result.evidence_png;
  $("answer-card").classList.remove("hidden");
}

function choiceRow(choice, isBest, concepts, attributionNote) {
  const row = el("div", null, "choice" + (isBest ? " best" : ""));
  row.dataset.label = choice.label;
  const head = el("div", null, "choice-head");
  head.appendChild(el("b", choice.label + "."));
  head.appendChild(el("span", choice.text + (isBest ? "  ← chosen" : "")));
  const bar = el("div", null, "bar");
  const fill = el("div");
  fill.style.width = Math.max(1, Math.round(choice.probability * 100)) + "%";
  bar.appendChild(fill);
  head.appendChild(bar);
  head.appendChild(el("span", pct(choice.probability), "pct"));
  row.appendChild(head);
  const details = el("details");
  details.open = isBest;
  const linked = concepts.length ? `graph concepts: ${concepts.join(", ")}` : "no graph concept found in this answer";
  details.appendChild(el("summary", `${choice.evidence.length} fact${choice.evidence.length === 1 ? "" : "s"} · ${linked}`));
  if (choice.evidence.length) details.appendChild(factTable(choice.evidence, attributionNote));
  row.appendChild(details);
  return row;
}

function factTable(facts, attributionNote) {
  const table = el("table", null, "facts");  // the attribution note is shown once, above the choices
  const head = el("tr");
  for (const title of ["fact", "why it was retrieved", "relevance", "effect on answer", "source"]) {
    head.appendChild(el("th", title));
  }
  head.children[3].title = attributionNote || "";
  table.appendChild(el("thead")).appendChild(head);
  const body = el("tbody");
  for (const fact of facts) {
    const tr = el("tr");
    const text = el("td", fact.text + " ");
    text.appendChild(el("span", fact.relation, "tag"));
    tr.appendChild(text);
    tr.appendChild(el("td", ORIGIN[fact.origin] || fact.origin || ""));
    tr.appendChild(el("td", fact.score.toFixed(2), "num"));
    const effect = fact.attribution;
    tr.appendChild(effect === null || effect === undefined
      ? el("td", "–", "num muted")
      : el("td", (effect >= 0 ? "+" : "") + effect.toFixed(3), "num " + (effect >= 0 ? "pos" : "neg")));
    tr.appendChild(sourceCell(fact.provenance));
    body.appendChild(tr);
  }
  table.appendChild(body);
  return table;
}

function sourceCell(provenance) {
  const td = el("td");
  if (!provenance || !provenance.length) return td;
  const first = provenance[0];
  if (first.sentence) td.appendChild(el("div", `“${first.sentence}”`, "src"));
  const more = provenance.length > 1 ? ` +${provenance.length - 1} more` : "";
  td.appendChild(el("div", `${first.extractor || "import"} · doc ${String(first.source).slice(0, 10)}${more}`, "muted"));
  return td;
}

function pct(p) { return (p * 100).toFixed(1) + "%"; }

async function loadStats() {
  if ($("graph-card").classList.contains("hidden")) return;
  try {
    const s = await call("/api/stats");
    $("stats").textContent = `${s.nodes} concepts, ${s.edges} facts from ${s.documents} documents ` +
      `(graph ${s.path}, updated ${s.updated || "—"}).` + (s.note ? " " + s.note : "");
    const chips = Object.entries(s.relations).sort((a, b) => b[1] - a[1]).slice(0, 16)
      .map(([name, n]) => el("span", `${name} ${n}`));
    $("relations").replaceChildren(...chips);
  } catch (err) {
    $("stats").textContent = err.message;
  }
}

let suggestTimer = null;
function suggest() {
  clearTimeout(suggestTimer);
  suggestTimer = setTimeout(async () => {
    try {
      const names = await call("/api/suggest?q=" + encodeURIComponent($("concept").value));
      $("concept-list").replaceChildren(...names.map((n) => { const o = el("option"); o.value = n; return o; }));
    } catch (err) { /* suggestions are optional */ }
  }, 200);
}

async function showConcept(event) {
  event.preventDefault();
  status("concept-status", "Looking it up…");
  try {
    const c = await call("/api/concept?name=" + encodeURIComponent($("concept").value));
    const title = $("concept-title");
    title.textContent = "";
    title.appendChild(el("b", c.concept));
    const extra = (c.description ? ` — ${c.description}` : "") +
      ` (${c.degree} fact${c.degree === 1 ? "" : "s"}, ${c.shown} shown)`;
    title.appendChild(el("span", extra, "muted"));
    $("concept-png").src = c.png;
    const rows = c.edges.map((e) => {
      const tr = el("tr");
      tr.appendChild(el("td", `${e.head} —${e.relation}→ ${e.tail}`));
      tr.appendChild(el("td", e.confidence.toFixed(2), "num"));
      const src = el("td");
      const first = e.sources[0];
      if (first && first.sentence) src.appendChild(el("div", `“${first.sentence}”`, "src"));
      src.appendChild(el("div", `${e.support_count} source${e.support_count === 1 ? "" : "s"}`, "muted"));
      tr.appendChild(src);
      return tr;
    });
    $("edges").tBodies[0].replaceChildren(...rows);
    $("concept-out").classList.remove("hidden");
    status("concept-status", c.note, c.note ? "note" : "");
  } catch (err) {
    status("concept-status", err.message, "error");
  }
}

$("ask-form").addEventListener("submit", ask);
$("concept-form").addEventListener("submit", showConcept);
$("concept").addEventListener("input", suggest);
$("example").addEventListener("click", () => {
  $("question").value = "Where would you keep a live fish?";
  $("choices").value = "aquarium\ndesert\noven";
});
loadInfo().then(loadStats);
