// The page's inputs: image pickers that also take a dropped or pasted file, and sliders that
// query again once they rest.

import { $ } from "./dom.js";

// A file input that also takes a dropped file (on its field) or a pasted one (on its tab).
export function picker(input, onFiles) {
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
export function pickOne(state, input, run) {
  picker(input, ([file]) => {
    state.file = file;
    showPreview($(".stage", state.result), file);
    run();
  });
}

// The picked file in the stage's <img>, its overlay (if any) emptied.
export function showPreview(figure, file) {
  const img = $("img", figure);
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  const overlay = $("svg", figure);
  if (overlay) overlay.replaceChildren();
  figure.hidden = false;
}

// A pasted image goes to the picker that the visible tab names in `data-paste`.
export function acceptPaste() {
  document.addEventListener("paste", (event) => {
    const panel = document.querySelector(".panel:not([hidden])");
    const files = [...event.clipboardData.files].filter((file) => file.type.startsWith("image/"));
    if (panel && files.length) $(`#${panel.dataset.paste}`).takeFiles(files);
  });
}

// A range input's value in its <output id="…-value">.
export function showValue(slider) {
  $(`#${slider.id}-value`).value = slider.value;
}

// Range inputs that run `run` once none has moved for a moment, not at every step of a drag;
// they share one timer, so moving two of them queries once. Returns what cancels a pending run.
export function liveSliders(sliders, run) {
  let timer;
  for (const slider of sliders) {
    slider.addEventListener("input", () => {
      showValue(slider);
      clearTimeout(timer);
      timer = setTimeout(run, 150);
    });
  }
  return () => clearTimeout(timer);
}
