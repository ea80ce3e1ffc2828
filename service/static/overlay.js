// Drawing over a picture: boxes with a label tag, and points, in image pixels. The SVG's
// viewBox is the image, so the overlay scales with the displayed picture. What a detection
// draws (a mask, a rotated box, keypoints) belongs here, beside the box.

const SVG = "http://www.w3.org/2000/svg";

// A colour per class that neighbouring class ids do not share (golden-angle hues).
export const classColor = (id) => `hsl(${Math.round((id * 137.508) % 360)} 85% 45%)`;

// The limbs between the 17 COCO keypoints (Ultralytics' kpt_skeleton, 0-based here).
export const COCO_LIMBS = [[15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12],
  [5, 6], [5, 7], [6, 8], [7, 9], [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6]];
// A keypoint scored below this is not drawn (Ultralytics' kpt_line), nor its limbs.
const VISIBLE = 0.5;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text != null) node.textContent = text;
  return node;
}

const pointsAttr = (polygon) => polygon.map(([x, y]) => `${x},${y}`).join(" ");

// `items`: { box: {x1, y1, x2, y2}, color, label, points: [[x, y(, visibility)], …],
// mask: [[x, y], …] (a mask's outline), corners: [[x, y] × 4] (a rotated box) } over an
// image of `size`. The masks are drawn first, in a layer of their own under every box.
export function drawOverlay(overlay, size, items) {
  overlay.setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  overlay.setAttribute("preserveAspectRatio", "none");
  const font = Math.max(12, Math.max(size.width, size.height) / 45);
  const masks = items.filter((item) => item.mask?.length).map(drawMask);
  const layer = masks.length ? [svg("g", { class: "masks" })] : [];
  layer[0]?.append(...masks);
  overlay.replaceChildren(...layer, ...items.map((item) => drawItem(item, font)));
  for (const text of overlay.querySelectorAll("text")) {  // fit each tag to its rendered label
    const length = text.getComputedTextLength();
    if (length > 0) text.previousSibling.setAttribute("width", length + font * 0.4);
  }
}

// One item as a group: its outline first (the tests read a box as the group's first rect, a
// rotated box as its first polygon), then its tag (above the outline where there is room,
// else inside it), then its points.
function drawItem({ box, color, label, points = [], corners }, font) {
  const group = svg("g", { class: "box" });
  group.append(corners ? drawRotated(corners, color) : drawBox(box, color));
  // The tag hangs from the box's top left corner, or from a rotated box's topmost one.
  const [x, y] = corners ? corners.reduce((top, c) => (c[1] < top[1] ? c : top)) : [box.x1, box.y1];
  const width = label.length * font * 0.6 + font * 0.4;  // a guess until the label is rendered
  const top = y > font * 1.3 ? y - font * 1.3 : y;
  group.append(svg("rect", { class: "tag", x, y: top, width, height: font * 1.3, fill: color }));
  group.append(svg("text", { x: x + font * 0.2, y: top + font, "font-size": font }, label));
  group.append(...drawKeypoints(points, color, font));
  return group;
}

function drawBox({ x1, y1, x2, y2 }, color) {
  return svg("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, stroke: color });
}

function drawRotated(corners, color) {
  return svg("polygon", { class: "rotated", points: pointsAttr(corners), stroke: color });
}

function drawMask(item) {
  return svg("polygon", { class: "mask", points: pointsAttr(item.mask), fill: item.color });
}

// The points a model is sure enough of (all of them where it gives no visibility), and for
// the 17 of COCO the limbs between two such points, under the points.
function drawKeypoints(points, color, font) {
  const shown = points.map(([, , visibility]) => visibility == null || visibility >= VISIBLE);
  const limbs = points.length === 17 ? COCO_LIMBS.filter(([a, b]) => shown[a] && shown[b]) : [];
  return [
    ...limbs.map(([a, b]) => svg("line", {
      class: "limb", x1: points[a][0], y1: points[a][1], x2: points[b][0], y2: points[b][1], stroke: color,
    })),
    ...points.filter((_, i) => shown[i]).map(([cx, cy]) => svg("circle", { class: "point", cx, cy, r: font / 4, fill: color })),
  ];
}
