// Horizontal bar charts as inline SVG: a few dozen lines instead of a charting library, and every bar is a
// DOM element a browser test can read (a canvas chart could not be checked).
const NS = "http://www.w3.org/2000/svg";

function node(tag, attrs, text) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

/** rows: [{label, bars: [{value, cls}], note}]; max: the value of a full bar (default: the largest value). */
export function barChart(rows, max = null) {
  const labelW = 170, barW = 220, noteW = 110, barH = 12, gap = 10;
  const rowH = rows.reduce((h, r) => Math.max(h, r.bars.length), 1) * (barH + 2) + gap;
  const top = max ?? Math.max(1e-9, ...rows.flatMap((r) => r.bars.map((b) => b.value)));
  const svg = node("svg", { viewBox: `0 0 ${labelW + barW + noteW} ${rows.length * rowH + 4}`, width: "100%", role: "img" });
  rows.forEach((row, i) => {
    const y = i * rowH + 2;
    const g = node("g", { class: "row", "data-label": row.label });
    g.append(node("text", { x: 0, y: y + barH, "text-anchor": "start" }, row.label.length > 26 ? `${row.label.slice(0, 25)}…` : row.label));
    row.bars.forEach((bar, j) => {
      const w = Math.max(0, Math.min(1, bar.value / top)) * barW;
      const rect = node("rect", { x: labelW, y: y + j * (barH + 2), width: w.toFixed(1), height: barH, class: bar.cls, "data-value": bar.value });
      rect.append(node("title", {}, `${row.label}: ${bar.value}`));
      g.append(rect);
    });
    g.append(node("text", { x: labelW + barW + 6, y: y + barH }, row.note ?? ""));
    svg.append(g);
  });
  return svg;
}

/** A line per series over the same buckets: series [{key, label, cls, values}], labels one per bucket. Each
 * point is a circle with data-value and data-bucket, so a browser test can read what is drawn. */
export function lineChart(labels, series) {
  const left = 36, right = 10, top = 10, plotW = 460, plotH = 150, axisH = 34, legendH = 18;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (i) => left + (labels.length > 1 ? (i * plotW) / (labels.length - 1) : plotW / 2);
  const y = (v) => top + plotH - (v / max) * plotH;
  const svg = node("svg", { viewBox: `0 0 ${left + plotW + right} ${top + plotH + axisH + legendH}`, width: "100%", role: "img" });
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    svg.append(node("line", { x1: left, x2: left + plotW, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(node("text", { x: left - 4, y: y(v) + 4, "text-anchor": "end", class: "axis" }, String(v)));
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) svg.append(node("text", { x: x(i), y: top + plotH + 16, "text-anchor": "middle", class: "axis" }, label.slice(5)));
  });
  series.forEach((s, k) => {
    const g = node("g", { class: `series ${s.cls}`, "data-key": s.key });
    g.append(node("polyline", { points: s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "), fill: "none" }));
    s.values.forEach((v, i) => {
      const c = node("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, "data-value": v, "data-bucket": labels[i] });
      c.append(node("title", {}, `${labels[i]} · ${s.label}: ${v}`));
      g.append(c);
    });
    const lx = left + k * 120;
    g.append(node("rect", { x: lx, y: top + plotH + axisH, width: 10, height: 10 }));
    g.append(node("text", { x: lx + 14, y: top + plotH + axisH + 9 }, s.label));
    svg.append(g);
  });
  return svg;
}
