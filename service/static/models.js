// The model list of GET /models: the status line at the top, and the model selects of the tabs.

import { api, problemText } from "./api.js";
import { $ } from "./dom.js";

export let models = [];
const listeners = [];

// `listener` runs each time the list comes (again), in the order the listeners were added.
export function onModels(listener) {
  listeners.push(listener);
}

export async function loadModels() {
  const status = $("#service-status");
  try {
    ({ models } = await api("models"));
  } catch (error) {
    status.textContent = problemText(error);
    return;
  }
  for (const listener of listeners) listener();
  // Only installed models count: a folder whose file was never pulled is an option, not a fault.
  const installed = models.filter((m) => m.status !== "not pulled");
  const ready = installed.filter((m) => m.status === "ready");
  const providers = [...new Set(ready.map((m) => m.provider).filter(Boolean))].join(", ");
  const count = ready.length === installed.length ? `${ready.length}` : `${ready.length} of ${installed.length}`;
  status.textContent = `${count} ${installed.length === 1 ? "model" : "models"} ready${providers ? ` · on ${providers}` : ""}`;
  if (models.some((m) => m.status === "loading")) setTimeout(loadModels, 2000);
}

// A <select> of the models of `task`, kept up to date: those not ready are shown but disabled,
// and the choice stays where it can (a "change" event says when it could not).
export function modelSelect(select, task) {
  onModels(() => {
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
  });
}
