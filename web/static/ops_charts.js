/* The last hour, drawn: GET /api/v1/ops/stats?window=60m&step=1m as three uPlot charts (vendored, pinned).
 *
 * Jobs finished per minute by status; queue wait and run time p50/p95; attempts and failed external calls.
 * Refreshed every STATS_MS by the console's loop. Hovering a minute shows its figures in the legend (uPlot's
 * live legend) and in a tooltip beside the cursor; the totals above the charts sum the hour.
 */
import uPlot from "./vendor/uplot.mjs";
import { el, fmtInt, secs } from "./ops_dom.js";

const STATS_MS = 10_000;
const HEIGHT = 190;
const $ = (id) => document.getElementById(id);
const state = { api: null, lastAt: 0, data: null, kind: "", charts: {}, kinds: "" };

const CHARTS = [
  {
    id: "chart-finished", title: "Jobs finished per minute", fmt: (v) => fmtInt(v),
    series: [
      { label: "succeeded", stroke: "#1f9d55", fill: "rgba(31,157,85,0.12)", get: (s) => s.finished.succeeded },
      { label: "failed", stroke: "#d64545", fill: "rgba(214,69,69,0.12)", get: (s) => s.finished.failed },
      { label: "cancelled", stroke: "#8792a2", get: (s) => s.finished.cancelled },
    ],
  },
  {
    id: "chart-latency", title: "Queue wait and run time per attempt (seconds)", fmt: (v) => secs(v),
    axis: (v) => `${v < 1 ? Number(v.toFixed(2)) : Number(v.toFixed(1))} s`,
    series: [
      { label: "queue wait p50", stroke: "#2f6fed", get: (s) => s.queue_wait_p50_s },
      { label: "queue wait p95", stroke: "#2f6fed", dash: [6, 4], get: (s) => s.queue_wait_p95_s },
      { label: "run time p50", stroke: "#d98b06", get: (s) => s.run_time_p50_s },
      { label: "run time p95", stroke: "#d98b06", dash: [6, 4], get: (s) => s.run_time_p95_s },
    ],
  },
  {
    id: "chart-errors", title: "Attempts and failed external calls per minute", fmt: (v) => fmtInt(v),
    series: [
      { label: "attempts", stroke: "#667085", get: (s) => s.attempts },
      { label: "external call errors", stroke: "#d64545", fill: "rgba(214,69,69,0.12)", get: (s) => s.external_errors },
    ],
  },
];

export function initCharts({ api }) {
  state.api = api;
  $("stats-kind").addEventListener("change", (ev) => {
    state.kind = ev.target.value;
    if (state.data) draw(state.data);
  });
  window.addEventListener("resize", () => {
    for (const chart of Object.values(state.charts)) chart.setSize(size(chart.root.parentNode));
  });
}

/** Fetch and draw, at most every STATS_MS (the console's loop calls this every 2 s). */
export async function refreshCharts() {
  if (Date.now() - state.lastAt < STATS_MS) return;
  state.lastAt = Date.now();
  const data = await state.api("/api/v1/ops/stats?window=60m&step=1m");
  state.data = data;
  draw(data);
}

function size(mount) {
  return { width: Math.max(260, mount.clientWidth - 4), height: HEIGHT };
}

function selected(data) {
  return (state.kind && data.kinds[state.kind]) || data.all;
}

function draw(data) {
  renderKinds(data);
  const series = selected(data);
  const xs = data.buckets.map((b) => Date.parse(b) / 1000);
  for (const spec of CHARTS) {
    const values = [xs, ...spec.series.map((s) => s.get(series))];
    const chart = state.charts[spec.id];
    if (chart) chart.setData(values);
    else state.charts[spec.id] = build(spec, values);
  }
  renderTotals(series);
  $("charts").dataset.loaded = "true";
}

function renderKinds(data) {
  const kinds = Object.keys(data.kinds);
  if (state.kind && !kinds.includes(state.kind)) kinds.push(state.kind);
  const key = kinds.join("|");
  if (key === state.kinds) return;
  state.kinds = key;
  const select = $("stats-kind");
  select.replaceChildren(el("option", { value: "", text: "all kinds" }), ...kinds.map((k) => el("option", { value: k, text: k })));
  select.value = state.kind;
}

function sum(values) {
  return values.reduce((a, v) => a + (v || 0), 0);
}

function renderTotals(s) {
  const worst = (values) => {
    const present = values.filter((v) => v !== null && v !== undefined);
    return present.length ? secs(Math.max(...present)) : "—";
  };
  const items = [
    ["succeeded", fmtInt(sum(s.finished.succeeded))],
    ["failed", fmtInt(sum(s.finished.failed))],
    ["cancelled", fmtInt(sum(s.finished.cancelled))],
    ["attempts", fmtInt(sum(s.attempts))],
    ["worst p95 queue wait", worst(s.queue_wait_p95_s)],
    ["worst p95 run time", worst(s.run_time_p95_s)],
    ["external call errors", fmtInt(sum(s.external_errors))],
  ];
  $("stats-totals").replaceChildren(...items.map(([label, value]) => el("span", { class: "stat", dataset: { stat: label } },
    el("strong", { text: value }), " ", el("span", { class: "muted", text: label }))));
}

/** A uPlot chart with a tooltip that follows the cursor and lists the minute's figures. */
function build(spec, values) {
  const mount = $(spec.id);
  const tooltip = el("div", { class: "chart-tip", hidden: true });
  const plugin = {
    hooks: {
      init: (u) => u.over.append(tooltip),
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || u.cursor.left < 0) {
          tooltip.hidden = true;
          return;
        }
        const when = new Date(u.data[0][i] * 1000);
        tooltip.replaceChildren(el("div", { class: "tip-time", text: when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) }),
          ...spec.series.map((s, k) => el("div", null, el("span", { class: "tip-swatch", dataset: { color: s.stroke } }),
            `${s.label}: `, el("strong", { text: u.data[k + 1][i] === null ? "—" : spec.fmt(u.data[k + 1][i]) }))));
        for (const sw of tooltip.querySelectorAll(".tip-swatch")) sw.style.background = sw.dataset.color; // CSSOM
        tooltip.hidden = false;
        const left = u.cursor.left + 12;
        tooltip.style.left = `${Math.min(left, u.over.clientWidth - 170)}px`;
        tooltip.style.top = `${Math.max(0, u.cursor.top - 10)}px`;
      },
    },
  };
  const opts = {
    ...size(mount),
    plugins: [plugin],
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    legend: { live: true },
    axes: [
      { stroke: "#667085", grid: { stroke: "#eef1f6" } },
      { stroke: "#667085", grid: { stroke: "#eef1f6" }, size: 60, values: (u, ticks) => ticks.map((t) => (spec.axis || spec.fmt)(t)) },
    ],
    series: [
      { label: "minute", value: (u, v) => (v === null ? "—" : new Date(v * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })) },
      ...spec.series.map((s) => ({
        label: s.label, stroke: s.stroke, fill: s.fill, dash: s.dash, width: 1.6, spanGaps: false,
        points: { size: 4 }, value: (u, v) => (v === null || v === undefined ? "—" : spec.fmt(v)),
      })),
    ],
  };
  return new uPlot(opts, values, mount);
}
