/* Small DOM and formatting helpers shared by the ops console's modules. Values always reach the page as
 * text nodes / textContent, never as markup. */

/** Build an element. `props.text` sets textContent; children are nodes or strings (as text). */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "onclick") node.addEventListener("click", value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Seconds with the precision that matters: 0.042 s, 1.3 s, 2m 05s. */
export function secs(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 10) return `${Number(seconds).toFixed(seconds < 1 ? 3 : 1)} s`;
  return duration(seconds);
}

export function ago(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "—" : `${duration((Date.now() - t) / 1000)} ago`;
}

/** A relative time that the 1-second ticker keeps current without re-rendering the row. */
export function agoSpan(iso) {
  return el("span", { class: "age", title: iso, dataset: { ts: iso || "" }, text: iso ? ago(iso) : "—" });
}

export function clock(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleTimeString();
}

export const short = (id) => (id ? String(id).slice(0, 8) : "");

export function fmtInt(n) {
  return Number(n || 0).toLocaleString("en-US");
}
