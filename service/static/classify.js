// The Classify tab: the top-k classes of an image, each with a bar of its score.

import { api, formWith, latest } from "./api.js";
import { $, element } from "./dom.js";
import { pct, timingsText } from "./format.js";
import { pickOne } from "./inputs.js";
import { modelSelect } from "./models.js";

const classify = { run: 0, result: $("#classify-result"), file: null };
const classifyForm = $("#classify-form");

modelSelect($("#classify-model"), "classify");
pickOne(classify, $("#classify-image"), runClassify);
$("#classify-model").addEventListener("change", () => runClassify());
$("#classify-top-k").addEventListener("change", () => runClassify());

function runClassify() {
  if (!classify.file) return;
  const query = { model: $("#classify-model").value, top_k: $("#classify-top-k").value };
  const form = formWith([["image", classify.file]]);
  return latest(classify, classifyForm, () => api("classify", { method: "POST", query, form }), (answer) => {
    $("#classify-list").replaceChildren(...answer.predictions.map(predictionItem));
    $("#classify-meta").textContent = timingsText(answer);
  }, () => {
    $("#classify-list").replaceChildren();
    $("#classify-meta").textContent = "";
    $(".stage", classify.result).hidden = true;
  });
}

function predictionItem(p) {
  const item = document.createElement("li");
  const bar = element("span", { className: "bar" });
  bar.style.setProperty("--score", String(p.score));  // the style sheet sizes the bar by it
  item.append(element("span", { className: "label", textContent: p.label }), bar,
    element("span", { className: "score", textContent: pct(p.score) }));
  return item;
}
