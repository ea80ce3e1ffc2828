// The Style tab: a content photo repainted by /stylize in one built-in style (their previews
// from /styles), a mix of them, or the style of a second photo; strength, max_side and the
// format; the result beside the content with its Server-Timing stages. Without the style models
// (not in the default set) it says which are missing and how to pull them.

import { api, formWith, latest, showError } from "./api.js";
import { $, element, naturalSize } from "./dom.js";
import { STAGES, timingsText } from "./format.js";
import { liveSliders, pickOne, picker, showPreview } from "./inputs.js";
import { models, onModels } from "./models.js";

// Which models each source of style needs, and the bundled model serving each task.
const STYLE_SOURCES = { one: ["stylize"], mix: ["stylize"], picture: ["style-predict", "style-transfer"] };
const STYLE_MODELS = { stylize: "multistyle26", "style-predict": "arbitrary_predict", "style-transfer": "arbitrary_transform" };
const SOURCE_NAMES = { one: "Built-in styles", picture: "Style pictures" };

const stylize = { run: 0, result: $("#style-result"), file: null, picture: null };
const styleForm = $("#style-form");
const styleField = $("#style-style");
const strength = $("#style-strength");
const sources = [...styleForm.querySelectorAll('input[name="source"]')];
const source = () => sources.find((radio) => radio.checked).value;
const outputStage = $("#style-output-img").closest(".stage");
let stylesLoaded = false;  // or "wanted": the tab was shown before the stylize model was ready

onModels(styleModels);

// The radios of the sources whose models are not ready are disabled, and a notice says why.
function styleModels() {
  const reasons = {};
  for (const task of Object.keys(STYLE_MODELS)) {
    const serving = models.filter((m) => m.task === task);
    if (serving.some((m) => m.status === "ready")) continue;
    reasons[task] = serving.length ? serving.map((m) => `${m.name}: ${m.status}`).join(", ")
      : `${STYLE_MODELS[task]}: not pulled`;
  }
  const missing = Object.entries(SOURCE_NAMES).map(([name, title]) => {
    const why = STYLE_SOURCES[name].map((task) => reasons[task]).filter(Boolean);
    return why.length ? `${title} are unavailable (${why.join("; ")}).` : "";
  }).filter(Boolean);
  for (const radio of sources) radio.disabled = STYLE_SOURCES[radio.value].some((task) => reasons[task]);
  const open = sources.find((radio) => !radio.disabled);
  if (open && sources.find((radio) => radio.checked).disabled) open.checked = true;
  $("#style-builtin").hidden = source() === "picture";
  $("#style-picture-field").hidden = source() !== "picture";
  const notice = $("#style-missing");
  notice.hidden = missing.length === 0;
  const pull = element("code", { textContent: `python -m service pull ${Object.values(STYLE_MODELS).join(" ")}` });
  notice.replaceChildren(`${missing.join(" ")} Pull the style models, then restart the service: `, pull);
  if (!reasons.stylize && stylesLoaded === "wanted") loadStyles();
}

// The built-in styles as tiles, each its preview: radios for one style, checkboxes for a mix.
// Each time the tab is shown; the styles are asked for once.
export async function loadStyles() {
  if (stylesLoaded === true) return;
  if (!models.some((m) => m.task === "stylize" && m.status === "ready")) {
    stylesLoaded = "wanted";  // loaded once the model is ready
    return;
  }
  stylesLoaded = true;
  try {
    const { styles } = await api("styles");
    $("#style-tiles").replaceChildren(...styles.map(({ index, preview }) => {
      const tile = element("label", { className: "tile" });
      const input = element("input", { type: "radio", name: "tile", value: index });
      input.setAttribute("aria-label", `Style ${index}`);
      tile.append(input, element("img", { src: preview, alt: "" }), element("span", { textContent: index }));
      return tile;
    }));
    syncTiles();
  } catch (error) {
    stylesLoaded = false;
    showError(styleForm, error);
  }
}

const tileInputs = () => [...$("#style-tiles").querySelectorAll("input")];

// The tiles show the style field: radios with one index, checkboxes with a mix.
function syncTiles() {
  const chosen = new Set((styleField.value.match(/\d+/g) || []).map(Number));
  for (const input of tileInputs()) {
    input.type = source() === "mix" ? "checkbox" : "radio";
    input.checked = chosen.has(Number(input.value));
  }
}

// The tiles write the style field (a mix in equal parts); typing in it sets the tiles.
$("#style-tiles").addEventListener("change", () => {
  const chosen = tileInputs().filter((input) => input.checked).map((input) => input.value);
  const weight = +(1 / chosen.length).toFixed(3);
  styleField.value = source() === "mix" ? chosen.map((index) => `${index}:${weight}`).join(",") : chosen.join(",");
  runStyle();
});
styleField.addEventListener("change", () => {
  const mix = /[,:]/.test(styleField.value);
  if (mix !== (source() === "mix") && source() !== "picture") sources.find((r) => r.value === (mix ? "mix" : "one")).checked = true;
  syncTiles();
  runStyle();
});
for (const radio of sources) {
  radio.addEventListener("change", () => {
    styleModels();
    syncTiles();
    runStyle();
  });
}

const cancelStrength = liveSliders([strength], runStyle);
for (const id of ["#style-max-side", "#style-format"]) $(id).addEventListener("change", () => runStyle());
styleForm.addEventListener("submit", (event) => { event.preventDefault(); runStyle(); });

pickOne(stylize, $("#style-image"), runStyle);
picker($("#style-picture"), ([file]) => {
  stylize.picture = file;
  showPreview($("#style-picture-img").closest(".stage"), file);
  runStyle();
});

// Server-Timing "decode;dur=7.3, inference;dur=195.4" -> { decode: 7.3, inference: 195.4 }.
function serverTiming(header) {
  return Object.fromEntries((header || "").split(",").map((entry) => {
    const [name, ...params] = entry.trim().split(";");
    const duration = params.map((param) => /^dur=(.+)$/.exec(param.trim())).find(Boolean);
    return [name, duration ? Number(duration[1]) : NaN];
  }).filter(([name]) => name));
}

function runStyle() {
  cancelStrength();
  const picture = source() === "picture";
  if (!stylize.file || (picture ? !stylize.picture : !styleField.value.trim())) return;
  const query = {
    style: picture ? "" : styleField.value.trim(), strength: strength.value,
    max_side: $("#style-max-side").value, format: $("#style-format").value,
  };
  const form = formWith([["image", stylize.file], ...(picture ? [["style_image", stylize.picture]] : [])]);
  return latest(stylize, styleForm, () => api("stylize", { method: "POST", query, form, binary: true }),
    async ({ blob, headers }) => {
      const img = $("#style-output-img");
      if (img.src) URL.revokeObjectURL(img.src);
      img.src = URL.createObjectURL(blob);
      outputStage.hidden = false;
      const size = await naturalSize(img);
      // A picture, not JSON: the model and the timings come in headers.
      const model = { name: headers.get("X-Model-Name"), provider: headers.get("X-Model-Provider") };
      const timings = timingsText({ model, timings_ms: serverTiming(headers.get("Server-Timing")) },
        [...STAGES, "encode"]);
      const style = picture ? `the style of ${stylize.picture.name}` : `style ${query.style}`;
      $("#style-meta").textContent = `${size.width}×${size.height} px ${blob.type} in ${style}, strength ${query.strength} · ${timings}`;
    }, () => {
      outputStage.hidden = true;
      $("#style-meta").textContent = "";
    });
}
