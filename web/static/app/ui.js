/* Small pieces every page uses: the html tag, the router, the toast, words for codes and times. */
import { h } from "../vendor/preact.mjs";
import { useEffect, useState } from "../vendor/preact-hooks.mjs";
import htm from "../vendor/htm.mjs";
import { get } from "../js/api.js";

export const html = htm.bind(h);

// ---- router (history API; every /app path is served the same shell) ---------------------------

const routeListeners = new Set();

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  for (const fn of [...routeListeners]) fn();
}

window.addEventListener("popstate", () => {
  for (const fn of [...routeListeners]) fn();
});

/** The current path (+ query), re-rendering the caller on navigation. */
export function useLocation() {
  const [where, setWhere] = useState(location.pathname + location.search);
  useEffect(() => {
    const fn = () => setWhere(location.pathname + location.search);
    routeListeners.add(fn);
    return () => routeListeners.delete(fn);
  }, []);
  return where;
}

/** An in-app link: plain <a href> (works with the keyboard, middle click, copy link), routed without reload. */
export function Link({ href, children, ...rest }) {
  const onClick = (ev) => {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

// ---- the toast: the latest notification, announced to screen readers --------------------------

const toastListeners = new Set();
let currentToast = null;
let toastSeq = 0;

/** kind: "success" | "error" | "info". Replaces the previous toast; errors stay until dismissed. */
export function showToast(kind, message, { title = "", sticky = kind === "error" } = {}) {
  toastSeq += 1;
  currentToast = { id: toastSeq, kind, message, title, sticky };
  for (const fn of [...toastListeners]) fn(currentToast);
  return toastSeq;
}

/** An error toast for a failed request; a 401 says nothing here (the sign-in screen explains it). */
export function toastError(err, title) {
  if (err && err.status === 401) return null;
  return showToast("error", describeError(err), { title });
}

export function dismissToast(id) {
  if (currentToast && (id === undefined || currentToast.id === id)) {
    currentToast = null;
    for (const fn of [...toastListeners]) fn(null);
  }
}

const TOAST_MS = 12_000; // success and info; errors stay until dismissed
const TOAST_ICON = { success: "✓", error: "!", info: "i" };
const TOAST_LABEL = { success: "Done", error: "Problem", info: "Note" };

export function ToastHost() {
  const [toast, setToast] = useState(currentToast);
  useEffect(() => {
    toastListeners.add(setToast);
    return () => toastListeners.delete(setToast);
  }, []);
  useEffect(() => {
    if (!toast || toast.sticky) return undefined;
    const timer = setTimeout(() => dismissToast(toast.id), TOAST_MS);
    return () => clearTimeout(timer);
  }, [toast]);
  // The live regions exist before any message, so assistive technology hears each new one.
  return html`
    <div class="toast-region" aria-live="polite" role="status">
      ${toast && toast.kind !== "error" ? html`<${ToastCard} toast=${toast} />` : null}
    </div>
    <div class="toast-region toast-region-alert" aria-live="assertive" role="alert">
      ${toast && toast.kind === "error" ? html`<${ToastCard} toast=${toast} />` : null}
    </div>`;
}

function ToastCard({ toast }) {
  return html`
    <div class=${`toast toast-${toast.kind}`} data-testid="toast" data-kind=${toast.kind}>
      <span class="toast-icon" aria-hidden="true">${TOAST_ICON[toast.kind]}</span>
      <div class="toast-body">
        <strong>${toast.title || TOAST_LABEL[toast.kind]}</strong>
        <p>${toast.message}</p>
      </div>
      <button type="button" class="btn btn-quiet btn-sm" onClick=${() => dismissToast(toast.id)}
        aria-label="Dismiss notification">Dismiss</button>
    </div>`;
}

// ---- words ------------------------------------------------------------------------------------

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** What went wrong, in words a person can act on (never a stack trace or a raw status). */
export function describeError(err) {
  if (!err) return "Something went wrong.";
  if (err.name === "AbortError") return "Cancelled.";
  if (err.code === "network_error") return "Cannot reach the server. Check the connection and try again.";
  if (err.code === "validation_failed" && err.errors && err.errors.length) {
    return err.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  }
  if (err.status === 429) return "Too many requests right now. Wait a moment and try again.";
  if (err.status >= 500) return "The server had a problem. Try again in a moment.";
  return err.detail || err.message || "Something went wrong.";
}

export const SESSION_STATUS_WORDS = {
  active: "Active",
  paused: "Paused",
  requesting_escalation: "Escalation requested",
  escalated: "Escalated",
  resolved: "Resolved",
};

export const SESSION_STATUS_ICON = {
  active: "●",
  paused: "❚❚",
  requesting_escalation: "↑",
  escalated: "⇪",
  resolved: "✓",
};

/** The problem text a session was started with. */
export function problemOf(session) {
  const c = (session && session.intake_content) || {};
  return c.problem || c.text || c.summary || c.problem_statement || "(no problem text)";
}

export function StatusBadge({ status, testid }) {
  return html`<span class=${`badge badge-${status}`}>
    <span class="badge-icon" aria-hidden="true">${SESSION_STATUS_ICON[status] || "•"}</span>
    <span class="badge-text" data-testid=${testid}>${status}</span>
  </span>`;
}

/** The `items` of GET `path` (null until loaded) and a function that loads them again; a failure is a toast. */
export function useItems(path, what, deps = []) {
  const [items, setItems] = useState(null);
  const load = async () => {
    try {
      setItems((await get(path)).items);
    } catch (err) {
      toastError(err, `Could not load ${what}`);
    }
  };
  useEffect(() => {
    load();
  }, deps);
  return [items, load];
}

/** A one-line add form: a hidden label, the text input (`<testid>-input`) and Add (`<testid>-add`). */
export function AddLine({ id, label, testid, placeholder, text, setText, busy, onSubmit }) {
  return html`
    <form class="inline-form" onSubmit=${onSubmit}>
      <label class="sr-only" for=${id}>${label}</label>
      <input id=${id} data-testid=${`${testid}-input`} value=${text} maxlength="4000"
        onInput=${(e) => setText(e.currentTarget.value)} placeholder=${placeholder} />
      <button type="submit" class="btn" data-testid=${`${testid}-add`} disabled=${busy || !text.trim()}>Add</button>
    </form>`;
}
