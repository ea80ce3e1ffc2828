// The Faces tab, its gallery: the enrolled subjects and their faces (GET /faces), enrolling a
// subject with photos, and deleting a face or a whole subject.

import { api, clearErrors, formWith, latest, showError } from "./api.js";
import { $, element } from "./dom.js";
import { plural } from "./format.js";
import { picker } from "./inputs.js";

const gallery = $("#gallery");
const enrol = { run: 0, result: $("#enrol-done") };
const enrolForm = $("#enrol-form");
let loaded = false;  // not before the tab is first shown
let enrolFiles = [];

// The first time the tab is shown.
export function showGallery() {
  if (!loaded) loadGallery();
}

// Again (with a new API key, say), if it was loaded before.
export function refreshGallery() {
  if (loaded) loadGallery();
}

async function loadGallery() {
  loaded = true;
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
    const item = element("li", { className: "subject" });
    item.dataset.subject = subject;
    const head = element("div", { className: "subject-head" });
    head.append(element("strong", { textContent: subject }),
      element("span", { className: "hint", textContent: plural(faces.length, "face") }),
      deleteButton(`Delete ${subject}`, `Delete subject ${subject} and all their faces`,
        `faces/${encodeURIComponent(subject)}`));
    const list = element("ul", { className: "faces" });
    list.append(...faces.map((face) => {
      const row = document.createElement("li");
      row.dataset.faceId = face.face_id;
      row.append(element("code", { textContent: face.face_id }),
        deleteButton("Delete face", `Delete face ${face.face_id} of ${subject}`,
          `faces/${encodeURIComponent(subject)}/${encodeURIComponent(face.face_id)}`));
      return row;
    }));
    item.append(head, list);
    return item;
  }));
}

// `label` names what it deletes for a screen reader; the short `text` is what shows.
function deleteButton(text, label, path) {
  const button = element("button", { type: "button", textContent: text, className: "danger" });
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

picker($("#enrol-images"), (files) => { enrolFiles = files; });
enrolForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const subject = $("#enrol-subject").value.trim();
  if (!subject || !enrolFiles.length) return;
  const form = formWith([["subject", subject], ...enrolFiles.map((file) => ["image", file])]);
  $("#enrol-done").textContent = "";
  latest(enrol, enrolForm, () => api("faces", { method: "POST", form }), (answer) => {
    $("#enrol-done").textContent = `Enrolled ${plural(answer.faces.length, "face")} of ${answer.subject}.`;
    enrolForm.reset();
    enrolFiles = [];
    return loadGallery();
  });
});
