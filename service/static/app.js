// The browser page of the vision service, its entry module. Each tab is a module of its own
// that wires its controls when imported (detect.js, classify.js, faces.js with gallery.js,
// style.js; api.js calls the service). This one switches tabs and loads the model list.

import { onKey } from "./api.js";
import { $ } from "./dom.js";
import "./detect.js";
import "./classify.js";
import "./faces.js";
import { refreshGallery, showGallery } from "./gallery.js";
import { acceptPaste } from "./inputs.js";
import { loadModels } from "./models.js";
import { loadStyles } from "./style.js";

// What a tab loads when it is shown, not before: the gallery, the previews of the styles.
const ON_SHOW = { "tab-faces": showGallery, "tab-style": loadStyles };

const tabs = [...document.querySelectorAll('[role="tab"]')];

function selectTab(tab, focus = false) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(`#${other.getAttribute("aria-controls")}`).hidden = !selected;
  }
  if (focus) tab.focus();
  ON_SHOW[tab.id]?.();
}

// Arrow keys move between the tabs (one tab stop for them all), Home and End to the ends.
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

acceptPaste();
// With a (new) API key, ask again what the missing one refused.
onKey(() => {
  loadModels();
  refreshGallery();
});
loadModels();
