// Drawing over a picture: boxes with a label tag, and points, in image pixels. The SVG's
// viewBox is the image, so the overlay scales with the displayed picture. What a detection
// draws (a mask, a rotated box, keypoints) belongs here, beside the box.

const SVG = "http://www.w3.org/2000/svg";

// A colour per class that neighbouring class ids do not share (golden-angle hues).
export const classColor = (id) => `hsl(${Math.round((id * 137.508) % 360)} 85% 45%)`;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text != null) node.textContent = text;
  return node;
}

// `items`: { box: {x1, y1, x2, y2}, color, label, points: [[x, y], …] } over an image of `size`.
export function drawOverlay(overlay, size, items) {
  overlay.setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  overlay.setAttribute("preserveAspectRatio", "none");
  const font = Math.max(12, Math.max(size.width, size.height) / 45);
  overlay.replaceChildren(...items.map((item) => drawItem(item, font)));
  for (const text of overlay.querySelectorAll("text")) {  // fit each tag to its rendered label
    const length = text.getComputedTextLength();
    if (length > 0) text.previousSibling.setAttribute("width", length + font * 0.4);
  }
}

// One item as a group: the box first (the tests read it as the group's first rect), then its
// tag (above the box where there is room, else inside it), then its points.
function drawItem({ box, color, label, points = [] }, font) {
  const group = svg("g", { class: "box" });
  const { x1, y1, x2, y2 } = box;
  group.append(svg("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, stroke: color }));
  const width = label.length * font * 0.6 + font * 0.4;  // a guess until the label is rendered
  const top = y1 > font * 1.3 ? y1 - font * 1.3 : y1;
  group.append(svg("rect", { class: "tag", x: x1, y: top, width, height: font * 1.3, fill: color }));
  group.append(svg("text", { x: x1 + font * 0.2, y: top + font, "font-size": font }, label));
  for (const [x, y] of points) {
    group.append(svg("circle", { class: "point", cx: x, cy: y, r: font / 4, fill: color }));
  }
  return group;
}
