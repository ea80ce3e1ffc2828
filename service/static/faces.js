// The Faces tab, its photo checks: /verify-face on two photos side by side (face boxes, the 5
// landmarks, the similarity against the threshold as a gauge, the verdict), and /recognize-face
// (a name or "unknown" on each face). The gallery the faces are recognised from: gallery.js.

import { api, formWith, latest } from "./api.js";
import { $, naturalSize } from "./dom.js";
import { fixed, plural, timingsText } from "./format.js";
import { pickOne, picker, showPreview } from "./inputs.js";
import { drawOverlay } from "./overlay.js";

// Box colours: the same person or a known subject, different people, a face nobody enrolled.
const MATCH = "#1a7f37";
const NO_MATCH = "#c2410c";
const UNKNOWN = "#6b7280";

// ---------------------------------------------------------------- verify

const verify = { run: 0, result: $("#verify-result"), files: [null, null] };
const verifyForm = $("#verify-form");
const verifyStages = [1, 2].map((n) => $(`#verify-img${n}`).closest(".stage"));

[1, 2].forEach((n) => picker($(`#verify-image${n}`), ([file]) => {
  verify.files[n - 1] = file;
  showPreview(verifyStages[n - 1], file);
  runVerify();
}));
verifyForm.addEventListener("submit", (event) => { event.preventDefault(); runVerify(); });
$("#verify-threshold").addEventListener("change", () => runVerify());

function runVerify() {
  const [first, second] = verify.files;
  if (!first || !second) return;
  const query = { threshold: $("#verify-threshold").value };
  const form = formWith([["image1", first], ["image2", second]]);
  verify.result.hidden = false;
  return latest(verify, verifyForm, () => api("verify-face", { method: "POST", query, form }), async (answer) => {
    const same = answer.verified;
    const verdict = $("#verify-verdict");
    verdict.textContent = `${same ? "Same person" : "Different people"}: similarity ${fixed(answer.similarity)} ${same ? "≥" : "<"} threshold ${fixed(answer.threshold)} (${answer.metric})`;
    verdict.className = `verdict-text ${same ? "same" : "different"}`;
    showGauge(answer, verdict.textContent);
    $("#verify-meta").textContent = timingsText(answer);
    await Promise.all(verifyStages.map(async (stage, i) => {
      const face = answer.faces[i];
      const size = await naturalSize($("img", stage));
      drawOverlay($("svg", stage), size, face ? [{
        box: face.box, color: same ? MATCH : NO_MATCH, label: `face ${fixed(face.confidence, 2)}`,
        points: face.landmarks || [],
      }] : []);
    }));
  }, () => { verify.result.hidden = true; });
}

// The gauge is a styled meter: its value and threshold (clamped to 0..1) are custom properties.
function showGauge({ similarity, threshold, verified }, text) {
  const gauge = $(".gauge", verify.result);
  gauge.setAttribute("aria-valuenow", fixed(similarity));
  gauge.setAttribute("aria-valuetext", text);
  gauge.style.setProperty("--value", String(Math.min(1, Math.max(0, similarity))));
  gauge.style.setProperty("--threshold", String(Math.min(1, Math.max(0, threshold))));
  gauge.classList.toggle("same", verified);
}

// ---------------------------------------------------------------- recognise

const recognize = { run: 0, result: $("#recognize-result"), file: null };
const recognizeForm = $("#recognize-form");

pickOne(recognize, $("#recognize-image"), runRecognize);
recognizeForm.addEventListener("submit", (event) => { event.preventDefault(); runRecognize(); });
$("#recognize-threshold").addEventListener("change", () => runRecognize());

function runRecognize() {
  if (!recognize.file) return;
  const query = { threshold: $("#recognize-threshold").value };
  const form = formWith([["image", recognize.file]]);
  return latest(recognize, recognizeForm, () => api("recognize-face", { method: "POST", query, form }), async (answer) => {
    const size = await naturalSize($("#recognize-img"));
    drawOverlay($("#recognize-overlay"), size, answer.faces.map((face) => ({
      box: face.box, color: face.subject == null ? UNKNOWN : MATCH,
      label: face.subject == null ? "unknown" : `${face.subject} ${fixed(face.similarity, 2)}`,
    })));
    $("#recognize-table tbody").replaceChildren(...answer.faces.map(recognizedRow));
    $("#recognize-table").hidden = answer.faces.length === 0;
    $("#recognize-meta").textContent = `${plural(answer.faces.length, "face")} · ${timingsText(answer)}`;
  }, () => {
    $(".stage", recognize.result).hidden = true;
    $("#recognize-table").hidden = true;
    $("#recognize-meta").textContent = "";
  });
}

// #, who, the similarity to them, and the other candidates with theirs.
function recognizedRow(face, i) {
  const row = document.createElement("tr");
  const others = (face.candidates || []).map((c) => `${c.subject} ${fixed(c.similarity, 2)}`).join(", ");
  const similarity = face.similarity == null ? "–" : fixed(face.similarity);
  for (const text of [i + 1, face.subject ?? "unknown", similarity, others || "–"]) row.insertCell().textContent = text;
  return row;
}
