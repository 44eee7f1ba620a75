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
