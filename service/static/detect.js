// The Detect tab: a detector, confidence and IoU sliders that query again as they move, the
// boxes over the image (overlay.js draws them), a table of the detections and the timings.

import { api, formWith, latest } from "./api.js";
import { $, element } from "./dom.js";
import { fixed, plural, timingsText } from "./format.js";
import { liveSliders, pickOne, showValue } from "./inputs.js";
import { modelSelect, models } from "./models.js";
import { classColor, drawOverlay } from "./overlay.js";

const detect = { run: 0, result: $("#detect-result"), file: null };
const detectForm = $("#detect-form");
const modelField = $("#detect-model");
const sliders = ["confidence", "iou"].map((name) => $(`#detect-${name}`));

modelSelect(modelField, "detect");
// Each detector brings its own default thresholds.
modelField.addEventListener("change", () => {
  const model = models.find((m) => m.name === modelField.value);
  for (const slider of sliders) {
    const value = model?.thresholds?.[slider.name];
    if (value != null) slider.value = value;
    showValue(slider);
  }
  runDetect();
});
const cancelSliders = liveSliders(sliders, runDetect);
pickOne(detect, $("#detect-image"), runDetect);

function runDetect() {
  cancelSliders();
  if (!detect.file) return;  // no model chosen (yet): the service's default
  const query = { model: modelField.value, confidence: sliders[0].value, iou: sliders[1].value };
  const form = formWith([["image", detect.file]]);
  return latest(detect, detectForm, () => api("detect", { method: "POST", query, form }),
    (answer) => renderDetections(answer, query), clearDetections);
}

function renderDetections(answer, query) {
  const overlay = $("#detect-overlay");
  drawOverlay(overlay, answer.image, answer.detections.map((d) => ({
    box: d.box, color: classColor(d.class_id), label: `${d.label} ${fixed(d.confidence, 2)}`,
    points: d.keypoints || [], mask: d.mask?.polygon, corners: d.rotated_box?.polygon,
  })));
  // What the boxes were asked with: a slider may have moved on since.
  overlay.dataset.confidence = query.confidence;
  overlay.dataset.iou = query.iou;
  $(".stage", detect.result).hidden = false;
  // A column for what a detection has beyond its box, where any has something.
  const shaped = answer.detections.some((d) => shapeText(d));
  $("#detect-shape").hidden = !shaped;
  const rows = answer.detections.map((d, i) => detectionRow(d, i, shaped));
  $("#detect-table tbody").replaceChildren(...rows);
  $("#detect-table").hidden = rows.length === 0;
  const count = plural(answer.detections.length, "detection");
  const truncated = answer.truncated ? " · truncated: more candidates than NMS takes; raise confidence" : "";
  $("#detect-meta").textContent = `${count} at confidence ≥ ${query.confidence}, IoU ${query.iou} in ${answer.image.width}×${answer.image.height} px${truncated} · ${timingsText(answer)}`;
}

// "mask", "rotated 12°" or "17 keypoints"; "" for a box alone.
function shapeText(d) {
  const rotated = d.rotated_box && `rotated ${Math.round((d.rotated_box.angle * 180) / Math.PI)}°`;
  const keypoints = d.keypoints?.length && plural(d.keypoints.length, "keypoint");
  return [d.mask && "mask", rotated, keypoints].filter(Boolean).join(", ");
}

// #, label (after a swatch of its box colour), confidence, box corners in whole pixels, and
// with `shaped` what it has beyond its box.
function detectionRow(d, i, shaped) {
  const row = document.createElement("tr");
  const { x1, y1, x2, y2 } = d.box;
  const cells = [i + 1, d.label, fixed(d.confidence), [x1, y1, x2, y2].map((v) => Math.round(v)).join(", ")];
  if (shaped) cells.push(shapeText(d) || "–");
  for (const text of cells) row.insertCell().textContent = text;
  const swatch = element("span", { className: "swatch" });
  swatch.style.setProperty("background", classColor(d.class_id));
  row.cells[1].prepend(swatch);
  return row;
}

function clearDetections() {
  $(".stage", detect.result).hidden = true;
  $("#detect-overlay").replaceChildren();
  $("#detect-table tbody").replaceChildren();
  $("#detect-table").hidden = true;
  $("#detect-meta").textContent = "";
}
