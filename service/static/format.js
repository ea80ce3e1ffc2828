// How numbers, counts and timings read on the page.

export const fixed = (x, digits = 3) => Number(x).toFixed(digits);
export const pct = (x) => `${(x * 100).toFixed(1)} %`;
export const plural = (count, noun) => `${count} ${noun}${count === 1 ? "" : "s"}`;

// The stages of `timings_ms` in the JSON answers, in the order they run.
export const STAGES = ["decode", "preprocess", "inference", "postprocess"];

export function timingsText({ model, timings_ms: t }, names = STAGES) {
  const stages = names.map((stage) => `${stage} ${fixed(t[stage], 1)}`).join(" · ");
  return `${model.name} on ${model.provider} · ${stages} · total ${fixed(t.total, 1)} ms`;
}
