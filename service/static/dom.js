// Small DOM helpers that every module of the page uses.

export const $ = (selector, root = document) => root.querySelector(selector);

// An element with its properties set: element("span", { className: "bar" }).
export const element = (tag, properties = {}) => Object.assign(document.createElement(tag), properties);

// The size of the picture in an <img>, once it is decoded: what answers measure boxes in.
export async function naturalSize(img) {
  await img.decode();
  return { width: img.naturalWidth, height: img.naturalHeight };
}
