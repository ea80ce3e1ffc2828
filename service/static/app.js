// The browser page of the vision service. It calls the JSON API exactly as any client would:
// multipart uploads, query parameters, problem+json errors, and the X-API-Key header when the
// service asks for one (kept in sessionStorage for this tab, never in the URL).

const KEY_STORE = "vision-service.api-key";
const SVG = "http://www.w3.org/2000/svg";
const $ = (selector, root = document) => root.querySelector(selector);

// ---------------------------------------------------------------- the API, and its problems

class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title);
    this.status = status;
    this.body = body;
  }
}

// `binary`: a successful answer is a picture, handed back as { blob, headers }.
async function api(path, { method = "GET", query = {}, form, binary = false } = {}) {
  const url = new URL(path, document.baseURI);
  for (const [name, value] of Object.entries(query)) {
    if (value !== "" && value != null) url.searchParams.set(name, value);
  }
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = key ? { "X-API-Key": key } : {};
  let response;
  try {
    response = await fetch(url, { method, headers, body: form });
  } catch (error) {
    throw new Problem(0, {
      title: "No answer from the service",
      detail: `${method} ${url.pathname} failed before an answer came (${error.message}).`,
    });
  }
  if (response.status === 204) return null;
  if (response.ok && binary) return { blob: await response.blob(), headers: response.headers };
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json().catch(() => null) : await response.text();
  if (response.ok) return body;
  const problem = body && typeof body === "object" ? body
    : { title: `HTTP ${response.status}`, detail: String(body || response.statusText).slice(0, 300) };
  const retry = response.headers.get("Retry-After");
  if (retry) problem.detail = `${problem.detail || ""} (try again in ${retry} s)`.trim();
  if (response.status === 401) askForKey(problem);
  throw new Problem(response.status, problem);
}

function problemText(error) {
  if (!(error instanceof Problem)) return `Something went wrong in the page: ${error.message}`;
  const { title, detail } = error.body;
  return title && detail ? `${title}: ${detail}` : title || detail || `HTTP ${error.status}`;
}

// Shows a problem next to the control that caused it: a field the problem names, the model
// select for an unknown model, an image the detail names, else the scope's default slot.
function showError(scope, error) {
  clearErrors(scope);
  const slot = (name) => name && scope.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  const body = error instanceof Problem ? error.body : {};
  const named = (body.errors || []).map((e) => slot(e.name)).find(Boolean);
  const model = /unknown-model/.test(body.type || "") && slot("model");
  const image = slot((/\b((?:style_)?image\d?)\b/.exec(body.detail || "") || [])[1]);
  const target = named || model || image || scope.querySelector("[data-error-default]");
  target.textContent = problemText(error);
  target.hidden = false;
}

function clearErrors(scope) {
  for (const slot of scope.querySelectorAll("[data-error-for]")) {
    slot.hidden = true;
    slot.textContent = "";
  }
}

function formWith(fields) {
  const form = new FormData();
  for (const [name, value] of fields) form.append(name, value);
  return form;
}

// ---------------------------------------------------------------- the API key

function askForKey(problem) {
  $("#key-panel").hidden = false;
  $("#key-message").textContent = problemText(new Problem(401, problem));
  $("#key-input").focus();
}

$("#key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORE, $("#key-input").value);
  $("#key-input").value = "";
  $("#key-panel").hidden = true;
  loadModels();
  if (galleryLoaded) loadGallery();
});

// ---------------------------------------------------------------- drawing

const classColor = (id) => `hsl(${Math.round((id * 137.508) % 360)} 85% 45%)`;
const pct = (x) => `${(x * 100).toFixed(1)} %`;
const fixed = (x, digits = 3) => Number(x).toFixed(digits);

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text != null) node.textContent = text;
  return node;
}

// Boxes (and points) in image pixels over an image of `size`; the SVG's viewBox is the image,
// so the overlay scales with the displayed picture.
function drawOverlay(overlay, size, items) {
  overlay.setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  overlay.setAttribute("preserveAspectRatio", "none");
  const font = Math.max(12, Math.max(size.width, size.height) / 45);
  overlay.replaceChildren(...items.map(({ box, color, label, points = [] }) => {
    const group = svg("g", { class: "box" });
    const { x1, y1, x2, y2 } = box;
    group.append(svg("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, stroke: color }));
    const width = label.length * font * 0.6 + font * 0.4;
    const top = y1 > font * 1.3 ? y1 - font * 1.3 : y1;
    group.append(svg("rect", { class: "tag", x: x1, y: top, width, height: font * 1.3, fill: color }));
    group.append(svg("text", { x: x1 + font * 0.2, y: top + font, "font-size": font }, label));
    for (const [x, y] of points) {
      group.append(svg("circle", { class: "point", cx: x, cy: y, r: font / 4, fill: color }));
    }
    return group;
  }));
  for (const text of overlay.querySelectorAll("text")) {  // fit each tag to its rendered label
    const length = text.getComputedTextLength();
    if (length > 0) text.previousSibling.setAttribute("width", length + font * 0.4);
  }
}

async function naturalSize(img) {
  await img.decode();
  return { width: img.naturalWidth, height: img.naturalHeight };
}

const STAGES = ["decode", "preprocess", "inference", "postprocess"];

function timingsText({ model, timings_ms: t }, names = STAGES) {
  const stages = names.map((stage) => `${stage} ${fixed(t[stage], 1)}`).join(" · ");
  return `${model.name} on ${model.provider} · ${stages} · total ${fixed(t.total, 1)} ms`;
}

function showPreview(figure, file) {
  const img = $("img", figure);
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  const overlay = $("svg", figure);
  if (overlay) overlay.replaceChildren();
  figure.hidden = false;
}

// ---------------------------------------------------------------- image pickers

// A file input that also takes a dropped file (on its field) or a pasted one (on its tab).
function picker(input, onFiles) {
  const take = (files) => {
    const images = [...files];
    if (images.length) onFiles(input.multiple ? images : images.slice(0, 1));
  };
  input.addEventListener("change", () => take(input.files));
  const zone = input.closest(".drop");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    take(event.dataTransfer.files);
  });
  input.takeFiles = take;
}

// One image for `state` (shown at once in its result's stage), then `run`.
function pickOne(state, input, run) {
  picker(input, ([file]) => {
    state.file = file;
    showPreview($(".stage", state.result), file);
    run();
  });
}

document.addEventListener("paste", (event) => {
  const panel = document.querySelector(".panel:not([hidden])");
  const files = [...event.clipboardData.files].filter((file) => file.type.startsWith("image/"));
  if (panel && files.length) $(`#${panel.dataset.paste}`).takeFiles(files);
});

// Runs `request` and hands its answer to `render` only if no newer run started meanwhile;
// `data-state` on the result says where it is (idle, busy, done, error).
async function latest(state, scope, request, render, clear = () => {}) {
  const run = ++state.run;
  state.result.dataset.state = "busy";
  try {
    const answer = await request();
    if (run !== state.run) return;
    clearErrors(scope);
    await render(answer);
    state.result.dataset.state = "done";
  } catch (error) {
    if (run !== state.run) return;
    clear();
    showError(scope, error);
    state.result.dataset.state = "error";
  }
}

// ---------------------------------------------------------------- models

let models = [];

async function loadModels() {
  const status = $("#service-status");
  try {
    ({ models } = await api("models"));
  } catch (error) {
    status.textContent = problemText(error);
    return;
  }
  fillModels($("#detect-model"), "detect");
  fillModels($("#classify-model"), "classify");
  styleModels();
  const ready = models.filter((m) => m.status === "ready");
  const providers = [...new Set(ready.map((m) => m.provider).filter(Boolean))].join(", ");
  status.textContent = `${ready.length} of ${models.length} models ready${providers ? ` · on ${providers}` : ""}`;
  if (models.some((m) => m.status === "loading")) setTimeout(loadModels, 2000);
}

function fillModels(select, task) {
  const previous = select.value;
  const options = models.filter((m) => m.task === task).map((m) => {
    const option = new Option(m.status === "ready" ? m.name : `${m.name} (${m.status})`, m.name);
    option.disabled = m.status !== "ready";
    return option;
  });
  select.replaceChildren(...options);
  const chosen = options.find((o) => o.value === previous && !o.disabled) || options.find((o) => !o.disabled);
  if (chosen) select.value = chosen.value;
  if (select.value !== previous) select.dispatchEvent(new Event("change"));
}

// ---------------------------------------------------------------- detect

const detect = { run: 0, result: $("#detect-result"), file: null };
const detectForm = $("#detect-form");
const sliders = ["confidence", "iou"].map((name) => $(`#detect-${name}`));

$("#detect-model").addEventListener("change", () => {
  const model = models.find((m) => m.name === $("#detect-model").value);
  for (const slider of sliders) {
    const value = model?.thresholds?.[slider.name];
    if (value != null) slider.value = value;
    $(`#${slider.id}-value`).value = slider.value;
  }
  runDetect();
});

let sliderTimer;
for (const slider of sliders) {
  slider.addEventListener("input", () => {
    $(`#${slider.id}-value`).value = slider.value;
    clearTimeout(sliderTimer);
    sliderTimer = setTimeout(runDetect, 150);
  });
}

pickOne(detect, $("#detect-image"), runDetect);

function runDetect() {
  clearTimeout(sliderTimer);
  if (!detect.file) return;  // no model chosen (yet): the service's default
  const query = { model: $("#detect-model").value, confidence: sliders[0].value, iou: sliders[1].value };
  const form = formWith([["image", detect.file]]);
  return latest(detect, detectForm, () => api("detect", { method: "POST", query, form }),
    (answer) => renderDetections(answer, query), clearDetections);
}

function renderDetections(answer, query) {
  const overlay = $("#detect-overlay");
  drawOverlay(overlay, answer.image, answer.detections.map((d) => ({
    box: d.box, color: classColor(d.class_id), label: `${d.label} ${fixed(d.confidence, 2)}`,
  })));
  overlay.dataset.confidence = query.confidence;
  overlay.dataset.iou = query.iou;
  $(".stage", detect.result).hidden = false;
  const rows = answer.detections.map((d, i) => {
    const row = document.createElement("tr");
    const { x1, y1, x2, y2 } = d.box;
    const cells = [i + 1, d.label, fixed(d.confidence), [x1, y1, x2, y2].map((v) => Math.round(v)).join(", ")];
    for (const text of cells) row.insertCell().textContent = text;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.setProperty("background", classColor(d.class_id));
    row.cells[1].prepend(swatch);
    return row;
  });
  $("#detect-table tbody").replaceChildren(...rows);
  $("#detect-table").hidden = rows.length === 0;
  const count = answer.detections.length;
  $("#detect-meta").textContent = `${count} detection${count === 1 ? "" : "s"} at confidence ≥ ${query.confidence}, IoU ${query.iou} in ${answer.image.width}×${answer.image.height} px · ${timingsText(answer)}`;
}

function clearDetections() {
  $(".stage", detect.result).hidden = true;
  $("#detect-overlay").replaceChildren();
  $("#detect-table tbody").replaceChildren();
  $("#detect-table").hidden = true;
  $("#detect-meta").textContent = "";
}

// ---------------------------------------------------------------- classify

const classify = { run: 0, result: $("#classify-result"), file: null };
const classifyForm = $("#classify-form");

pickOne(classify, $("#classify-image"), runClassify);
$("#classify-model").addEventListener("change", () => runClassify());
$("#classify-top-k").addEventListener("change", () => runClassify());

function runClassify() {
  if (!classify.file) return;
  const query = { model: $("#classify-model").value, top_k: $("#classify-top-k").value };
  const form = formWith([["image", classify.file]]);
  return latest(classify, classifyForm, () => api("classify", { method: "POST", query, form }), (answer) => {
    $("#classify-list").replaceChildren(...answer.predictions.map((p) => {
      const item = document.createElement("li");
      const label = Object.assign(document.createElement("span"), { className: "label", textContent: p.label });
      const bar = Object.assign(document.createElement("span"), { className: "bar" });
      bar.style.setProperty("--score", String(p.score));
      const score = Object.assign(document.createElement("span"), { className: "score", textContent: pct(p.score) });
      item.append(label, bar, score);
      return item;
    }));
    $("#classify-meta").textContent = timingsText(answer);
  }, () => {
    $("#classify-list").replaceChildren();
    $("#classify-meta").textContent = "";
    $(".stage", classify.result).hidden = true;
  });
}

// ---------------------------------------------------------------- faces: verify

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
    const gauge = $(".gauge", verify.result);
    gauge.setAttribute("aria-valuenow", fixed(answer.similarity));
    gauge.setAttribute("aria-valuetext", verdict.textContent);
    gauge.style.setProperty("--value", String(Math.min(1, Math.max(0, answer.similarity))));
    gauge.style.setProperty("--threshold", String(Math.min(1, Math.max(0, answer.threshold))));
    gauge.classList.toggle("same", same);
    $("#verify-meta").textContent = timingsText(answer);
    await Promise.all(verifyStages.map(async (stage, i) => {
      const face = answer.faces[i];
      const size = await naturalSize($("img", stage));
      drawOverlay($("svg", stage), size, face ? [{
        box: face.box, color: same ? "#1a7f37" : "#c2410c", label: `face ${fixed(face.confidence, 2)}`,
        points: face.landmarks || [],
      }] : []);
    }));
  }, () => { verify.result.hidden = true; });
}

// ---------------------------------------------------------------- faces: gallery

let galleryLoaded = false;
const gallery = $("#gallery");
const enrol = { run: 0, result: $("#enrol-done") };
const enrolForm = $("#enrol-form");

async function loadGallery() {
  galleryLoaded = true;
  gallery.dataset.state = "busy";
  try {
    const { subjects } = await api("faces");
    clearErrors(gallery);
    renderGallery(subjects);
    gallery.dataset.state = "done";
  } catch (error) {
    showError(gallery, error);
    gallery.dataset.state = "error";
  }
}

function renderGallery(subjects) {
  $("#gallery-empty").hidden = subjects.length > 0;
  $("#gallery-list").replaceChildren(...subjects.map(({ subject, faces }) => {
    const item = Object.assign(document.createElement("li"), { className: "subject" });
    item.dataset.subject = subject;
    const head = Object.assign(document.createElement("div"), { className: "subject-head" });
    const name = Object.assign(document.createElement("strong"), { textContent: subject });
    const count = Object.assign(document.createElement("span"), {
      className: "hint", textContent: `${faces.length} face${faces.length === 1 ? "" : "s"}`,
    });
    head.append(name, count, deleteButton(`Delete ${subject}`, `Delete subject ${subject} and all their faces`,
      `faces/${encodeURIComponent(subject)}`));
    const list = Object.assign(document.createElement("ul"), { className: "faces" });
    list.append(...faces.map((face) => {
      const row = document.createElement("li");
      row.dataset.faceId = face.face_id;
      const id = Object.assign(document.createElement("code"), { textContent: face.face_id });
      row.append(id, deleteButton("Delete face", `Delete face ${face.face_id} of ${subject}`,
        `faces/${encodeURIComponent(subject)}/${encodeURIComponent(face.face_id)}`));
      return row;
    }));
    item.append(head, list);
    return item;
  }));
}

function deleteButton(text, label, path) {
  const button = Object.assign(document.createElement("button"), { type: "button", textContent: text, className: "danger" });
  button.setAttribute("aria-label", label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api(path, { method: "DELETE" });
      $("#enrol-done").textContent = `${label.replace(/^Delete/, "Deleted")}.`;
      await loadGallery();
    } catch (error) {
      showError(gallery, error);
      button.disabled = false;
    }
  });
  return button;
}

let enrolFiles = [];
picker($("#enrol-images"), (files) => { enrolFiles = files; });
enrolForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const subject = $("#enrol-subject").value.trim();
  if (!subject || !enrolFiles.length) return;
  const form = formWith([["subject", subject], ...enrolFiles.map((file) => ["image", file])]);
  $("#enrol-done").textContent = "";
  latest(enrol, enrolForm, () => api("faces", { method: "POST", form }), (answer) => {
    $("#enrol-done").textContent = `Enrolled ${answer.faces.length} face${answer.faces.length === 1 ? "" : "s"} of ${answer.subject}.`;
    enrolForm.reset();
    enrolFiles = [];
    return loadGallery();
  });
});

// ---------------------------------------------------------------- faces: recognise

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
    const who = (face) => face.subject ?? "unknown";
    const size = await naturalSize($("#recognize-img"));
    drawOverlay($("#recognize-overlay"), size, answer.faces.map((face) => ({
      box: face.box, color: face.subject == null ? "#6b7280" : "#1a7f37",
      label: face.subject == null ? "unknown" : `${face.subject} ${fixed(face.similarity, 2)}`,
    })));
    $("#recognize-table tbody").replaceChildren(...answer.faces.map((face, i) => {
      const row = document.createElement("tr");
      const others = (face.candidates || []).map((c) => `${c.subject} ${fixed(c.similarity, 2)}`).join(", ");
      const similarity = face.similarity == null ? "–" : fixed(face.similarity);
      for (const text of [i + 1, who(face), similarity, others || "–"]) row.insertCell().textContent = text;
      return row;
    }));
    $("#recognize-table").hidden = answer.faces.length === 0;
    const count = answer.faces.length;
    $("#recognize-meta").textContent = `${count} face${count === 1 ? "" : "s"} · ${timingsText(answer)}`;
  }, () => {
    $(".stage", recognize.result).hidden = true;
    $("#recognize-table").hidden = true;
    $("#recognize-meta").textContent = "";
  });
}

// ---------------------------------------------------------------- style

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
let stylesLoaded = false;

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
  const pull = Object.assign(document.createElement("code"), {
    textContent: `python -m service pull ${Object.values(STYLE_MODELS).join(" ")}`,
  });
  notice.replaceChildren(`${missing.join(" ")} Pull the style models, then restart the service: `, pull);
  if (!reasons.stylize && stylesLoaded === "wanted") loadStyles();
}

// The built-in styles as tiles, each its preview: radios for one style, checkboxes for a mix.
async function loadStyles() {
  if (stylesLoaded === true) return;
  if (!models.some((m) => m.task === "stylize" && m.status === "ready")) {
    stylesLoaded = "wanted";  // loaded once the model is ready
    return;
  }
  stylesLoaded = true;
  try {
    const { styles } = await api("styles");
    $("#style-tiles").replaceChildren(...styles.map(({ index, preview }) => {
      const tile = Object.assign(document.createElement("label"), { className: "tile" });
      const input = Object.assign(document.createElement("input"), { type: "radio", name: "tile", value: index });
      input.setAttribute("aria-label", `Style ${index}`);
      const img = Object.assign(document.createElement("img"), { src: preview, alt: "" });
      tile.append(input, img, Object.assign(document.createElement("span"), { textContent: index }));
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

let strengthTimer;
strength.addEventListener("input", () => {
  $("#style-strength-value").value = strength.value;
  clearTimeout(strengthTimer);
  strengthTimer = setTimeout(runStyle, 150);
});
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
  clearTimeout(strengthTimer);
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

// ---------------------------------------------------------------- tabs

const tabs = [...document.querySelectorAll('[role="tab"]')];

function selectTab(tab, focus = false) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(`#${other.getAttribute("aria-controls")}`).hidden = !selected;
  }
  if (focus) tab.focus();
  if (tab.id === "tab-faces" && !galleryLoaded) loadGallery();
  if (tab.id === "tab-style") loadStyles();
}

for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {
    const i = tabs.indexOf(tab);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    selectTab(tabs[(next + tabs.length) % tabs.length], true);
  });
}

loadModels();
