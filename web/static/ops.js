/* FlowPilot ops console.
 *
 * Polls the operator API every two seconds and renders what it gets. Requests go through the shared API
 * client (js/api.js): the token lives in sessionStorage only and travels as an Authorization header; it is
 * never put in a URL or a cookie. Every value from the API reaches the page through textContent / text
 * nodes, never as markup.
 */
import { ApiError, api as call, auth, signIn, signOut } from "./js/api.js";
import { ago, agoSpan, duration, el, fmtInt, short } from "./ops_dom.js";
import { closeJob, initDrawer, jobFromHash, refreshJob } from "./ops_job.js";
import { initCharts, refreshCharts } from "./ops_charts.js";

const REFRESH_MS = 2000;
const STATUSES = ["failed", "retrying", "running", "queued", "succeeded", "cancelled"];
const ACTIVE_BATCH = ["expanding", "running"];
const FINISHED_BATCHES_SHOWN = 5;
const NOT_OPERATOR = "That account is not a platform operator. Sign in as an operator.";

const view = { status: "failed", kind: "" };
const loop = { timer: null, inflight: false, again: false, paused: false, gen: 0 };
const last = { jobs: null, batches: null, kinds: null };

const $ = (id) => document.getElementById(id);

class AuthError extends Error {}

// ---- API -----------------------------------------------------------------------------------

async function api(path, method = "GET", body = undefined) {
  if (!auth.token()) throw new AuthError("");
  try {
    return await call(path, { method, body });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const detail = err.detail ? `: ${err.detail}` : "";
    if (err.status === 401) throw new AuthError(`The token was rejected${detail}. Log in again.`);
    if (err.status === 403) throw new AuthError("That token is not a platform operator's token. Use an operator token.");
    const failure = new Error(`${method} ${path} → ${err.status || "network"}${detail}`);
    failure.status = err.status; // the job drawer tells "not found" apart
    throw failure;
  }
}

// ---- refresh loop --------------------------------------------------------------------------

function jobsQuery() {
  const q = new URLSearchParams({ limit: "50" });
  if (view.status) q.set("status", view.status);
  if (view.kind) q.set("kind", view.kind);
  return `/api/v1/ops/jobs?${q}`;
}

async function refresh() {
  const gen = loop.gen;
  const [overview, jobs, batches] = await Promise.all([
    api("/api/v1/ops/queues"),
    api(jobsQuery()),
    api("/api/v1/ops/batches"),
    refreshJob(), // the open job drawer, if any
    refreshCharts(), // the last hour (throttled: a new point per minute needs no 2-second polling)
  ]);
  renderOverview(overview);
  renderBatches(batches.items || []);
  if (gen === loop.gen) renderJobs(jobs); // the filter changed meanwhile: the next pass renders it
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function tick() {
  clearTimeout(loop.timer);
  loop.timer = null;
  if (loop.inflight) {
    loop.again = true;
    return;
  }
  if (!auth.token()) return;
  loop.inflight = true;
  let ok = true;
  try {
    await refresh();
    setLive(loop.paused ? "paused" : "ok");
    hideBanner("network");
  } catch (err) {
    if (err instanceof AuthError) {
      showLogin(err.message);
      ok = false;
    } else {
      setLive("down");
      showBanner(`Cannot refresh — ${err.message}. Retrying…`, "error", "network");
    }
  } finally {
    loop.inflight = false;
  }
  if (!ok) return;
  if (loop.again) {
    loop.again = false;
    tick();
  } else if (!loop.paused) {
    loop.timer = setTimeout(tick, REFRESH_MS);
  }
}

function refreshNow() {
  loop.gen += 1;
  tick();
}

function setLive(mode) {
  const live = $("live");
  live.classList.toggle("paused", mode === "paused");
  live.classList.toggle("down", mode === "down");
  live.title = { ok: "Live: refreshes every 2 seconds", paused: "Paused", down: "Cannot reach the API" }[mode];
}

let bannerKind = null;
let bannerTimer = null;

function showBanner(message, tone = "info", kind = "flash") {
  const banner = $("banner");
  banner.textContent = message;
  banner.className = tone === "error" ? "banner error" : "banner";
  banner.hidden = false;
  bannerKind = kind;
  clearTimeout(bannerTimer);
  if (kind === "flash") bannerTimer = setTimeout(() => hideBanner("flash"), 6000);
}

function hideBanner(kind) {
  if (kind && bannerKind !== kind) return;
  $("banner").hidden = true;
  bannerKind = null;
}

// ---- rendering -----------------------------------------------------------------------------

function renderOverview(data) {
  const byStatus = (data.jobs && data.jobs.by_status) || {};
  for (const status of STATUSES) {
    const n = fmtInt(byStatus[status]);
    document.querySelector(`#counts [data-status="${status}"] .n`).textContent = n;
    document.querySelector(`#tabs [data-status="${status}"] .tab-count`).textContent = n;
  }
  $("oldest-active").textContent = duration(data.jobs ? data.jobs.oldest_active_age_s : null);

  const workers = data.workers || [];
  $("workers-count").textContent = String(workers.length);
  $("workers").replaceChildren(
    ...(workers.length
      ? workers.map((w) =>
          el("li", null, el("span", { class: "mono", text: w.worker }),
            el("span", { class: "muted", text: `${w.running_jobs} running` })))
      : [el("li", { class: "muted", text: "No worker heartbeats — is a worker running?" })]),
  );

  const queues = data.queues || [];
  $("queues").tBodies[0].replaceChildren(
    ...queues.map((q) =>
      el("tr", { dataset: { queue: q.name } },
        el("td", null, el("code", { text: q.name })),
        el("td", { class: "num", text: fmtInt(q.ready) }),
        el("td", { class: "num", text: fmtInt(q.delayed) }),
        el("td", { class: "num", text: fmtInt(q.in_flight) }),
        el("td", { class: q.dead ? "num alert" : "num", text: fmtInt(q.dead) }),
        el("td", { class: "num", text: duration(q.oldest_ready_age_s) }))),
  );
  $("requeue-dead").hidden = !queues.some((q) => q.dead > 0);
  $("retry-all").hidden = !(view.status === "failed" && byStatus.failed > 0);

  const kinds = Object.keys((data.jobs && data.jobs.by_kind) || {}).sort();
  if (view.kind && !kinds.includes(view.kind)) kinds.push(view.kind);
  const key = JSON.stringify(kinds);
  if (key !== last.kinds) {
    last.kinds = key;
    const select = $("kind-filter");
    select.replaceChildren(el("option", { value: "", text: "all kinds" }),
      ...kinds.map((k) => el("option", { value: k, text: k })));
    select.value = view.kind;
  }
}

function jobRow(job) {
  const actions = el("td", { class: "actions" });
  if (job.status === "failed") {
    actions.append(el("button", {
      type: "button", class: "btn btn-sm btn-retry", dataset: { action: "retry" },
      onclick: (ev) => act(ev.currentTarget, `/api/v1/ops/jobs/${encodeURIComponent(job.id)}/retry`, "Retry",
        () => `${job.kind} ${short(job.id)} is queued again.`),
    }, "Retry"));
  }
  if (job.status === "queued" || job.status === "retrying") {
    actions.append(el("button", {
      type: "button", class: "btn btn-sm btn-cancel", dataset: { action: "cancel" },
      onclick: (ev) => act(ev.currentTarget, `/api/v1/ops/jobs/${encodeURIComponent(job.id)}/cancel`, "Cancel",
        () => `${job.kind} ${short(job.id)} is cancelled.`),
    }, "Cancel"));
  }
  const err = job.error;
  const errorCell = err
    ? el("td", { class: "error-cell" },
        el("span", { class: "err-code", text: err.code || "error" }),
        el("span", { class: "err-msg", text: err.message || "" }))
    : el("td", { class: "muted", text: "—" });
  const statusCell = el("td", null, el("span", { class: `status status-${job.status}`, text: job.status }));
  if (job.status === "retrying" && job.next_attempt_at) {
    statusCell.append(el("div", { class: "small muted", text: `next try ${new Date(job.next_attempt_at).toLocaleTimeString()}` }));
  }
  return el("tr", { dataset: { jobId: job.id, status: job.status } },
    el("td", null, agoSpan(job.created_at)),
    el("td", null, el("a", { href: `#job=${encodeURIComponent(job.id)}`, class: "job-link", title: "Open the job's story" },
      el("code", { text: job.kind })),
      el("div", { class: "small muted mono", title: job.id, text: `${short(job.id)} · ${job.queue || ""}` })),
    statusCell,
    el("td", { class: "num", text: `${job.attempts}/${job.max_attempts}` }),
    el("td", null, job.account_id
      ? el("span", { class: "mono", title: job.account_id, text: short(job.account_id) })
      : el("span", { class: "muted", text: "platform" })),
    errorCell,
    actions);
}

function renderJobs(data) {
  const items = data.items || [];
  const key = JSON.stringify([view.status, view.kind, items]);
  if (key === last.jobs) return; // unchanged: keep the rows (and any pointer on a button) as they are
  last.jobs = key;
  const body = $("jobs").tBodies[0];
  if (!items.length) {
    const what = [view.status, view.kind].filter(Boolean).join(" ");
    body.replaceChildren(el("tr", null, el("td", { colspan: "7", class: "empty", text: `No ${what ? `${what} ` : ""}jobs.` })));
  } else {
    body.replaceChildren(...items.map(jobRow));
  }
  $("jobs-more").hidden = !data.next_cursor;
}

function progressBar(b) {
  const total = b.total || 0;
  const bar = el("div", {
    class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total),
    "aria-valuenow": String(total - (b.pending || 0)), "aria-label": `${b.action} progress`,
  });
  for (const part of ["succeeded", "failed", "cancelled"]) {
    const seg = el("span", { class: `seg-${part}`, title: `${b[part] || 0} ${part}` });
    seg.style.width = total ? `${(100 * (b[part] || 0)) / total}%` : "0%"; // CSSOM: allowed by the CSP
    bar.append(seg);
  }
  return bar;
}

function batchRow(b) {
  const total = b.total || 0;
  const done = total - (b.pending || 0);
  const pct = total ? Math.floor((100 * done) / total) : (ACTIVE_BATCH.includes(b.status) ? 0 : 100);
  const legend = total
    ? `${fmtInt(b.succeeded)} succeeded · ${fmtInt(b.failed)} failed · ${fmtInt(b.cancelled)} cancelled · ${fmtInt(b.pending)} pending of ${fmtInt(total)}`
    : (b.status === "expanding" ? "selecting sessions…" : "no sessions matched");
  const info = el("div", null,
    el("div", null, el("span", { class: "title", text: String(b.action || "").replaceAll("_", " ") }), " ",
      el("span", { class: `status status-${b.status}`, text: b.status })),
    el("div", { class: "small muted" },
      el("span", { class: "mono", title: b.id, text: short(b.id) }), " · account ",
      el("span", { class: "mono", title: b.account_id, text: short(b.account_id) }), " · started ",
      agoSpan(b.created_at)));
  const middle = el("div", null, progressBar(b), el("div", { class: "bar-legend", text: legend }));
  if (Array.isArray(b.mismatches) && b.mismatches.length) {
    middle.append(el("div", { class: "small alert", text: `${b.mismatches.length} ticket(s) changed since we verified them` }));
  }
  const right = el("div", { class: "actions" }, el("span", { class: "pct", text: `${pct}%` }));
  if (ACTIVE_BATCH.includes(b.status)) {
    right.append(" ", el("button", {
      type: "button", class: "btn btn-sm btn-cancel",
      onclick: (ev) => {
        if (window.confirm(`Cancel batch ${short(b.id)}? Queued children stop now; running ones finish.`)) {
          act(ev.currentTarget, `/api/v1/batches/${encodeURIComponent(b.id)}/cancel`, "Cancel batch",
            () => `batch ${short(b.id)} is cancelled; running children will finish.`);
        }
      },
    }, "Cancel"));
  }
  return el("div", { class: "batch", dataset: { batchId: b.id, status: b.status } }, info, middle, right);
}

function renderBatches(items) {
  const active = items.filter((b) => ACTIVE_BATCH.includes(b.status));
  const finished = items.filter((b) => !ACTIVE_BATCH.includes(b.status)).slice(0, FINISHED_BATCHES_SHOWN);
  const shown = active.concat(finished);
  const key = JSON.stringify(shown);
  if (key === last.batches) return;
  last.batches = key;
  $("batches").replaceChildren(
    ...(shown.length ? shown.map(batchRow) : [el("p", { class: "muted", text: "No batches yet." })]),
  );
}

function updateAges() {
  for (const node of document.querySelectorAll("[data-ts]")) {
    if (node.dataset.ts) node.textContent = ago(node.dataset.ts);
  }
}

// ---- actions -------------------------------------------------------------------------------

/** POST an action; `done` turns the response into the confirmation shown in the banner. */
async function act(button, url, label, done, body = undefined) {
  if (button) button.disabled = true;
  try {
    const result = await api(url, "POST", body);
    showBanner(`${label}: ${done(result || {})}`);
  } catch (err) {
    if (err instanceof AuthError) {
      showLogin(err.message);
      return;
    }
    showBanner(`${label} failed — ${err.message}`, "error");
    if (button) button.disabled = false;
    return;
  }
  last.jobs = null;
  last.batches = null;
  refreshNow();
}

function selectStatus(status) {
  view.status = status;
  for (const tab of document.querySelectorAll("#tabs .tab")) {
    tab.setAttribute("aria-selected", String(tab.dataset.status === status));
  }
  $("retry-all").hidden = true;
  last.jobs = null;
  $("jobs").tBodies[0].replaceChildren(el("tr", null, el("td", { colspan: "7", class: "empty", text: "Loading…" })));
  refreshNow();
}

// ---- login / logout ------------------------------------------------------------------------

function showLogin(message) {
  auth.clear();
  clearTimeout(loop.timer);
  loop.timer = null;
  loop.gen += 1;
  last.jobs = last.batches = last.kinds = null;
  hideBanner();
  $("console").hidden = true;
  $("session-bar").hidden = true;
  closeJob({ keepHash: true }); // a deep link survives signing in again
  for (const id of ["workers", "batches"]) $(id).replaceChildren();
  for (const id of ["queues", "jobs"]) $(id).tBodies[0].replaceChildren();
  const msg = $("login-message");
  msg.textContent = message || "";
  msg.hidden = !message;
  $("login").hidden = false;
  $("email").focus();
}

function showConsole() {
  $("login").hidden = true;
  $("login-message").hidden = true;
  $("console").hidden = false;
  $("session-bar").hidden = false;
  $("updated").textContent = "loading…";
  refreshNow();
  jobFromHash(); // a deep link (#job=…) opens its drawer once signed in
}

function init() {
  initDrawer({ api, act, onGone: () => refreshNow() });
  initCharts({ api });
  window.addEventListener("hashchange", () => {
    if (auth.token() && !$("console").hidden) jobFromHash();
  });
  const counts = $("counts");
  for (const status of STATUSES) {
    counts.append(el("button", {
      type: "button", class: `count status-${status}`, dataset: { status }, title: `Show ${status} jobs`,
      onclick: () => selectStatus(status),
    }, el("span", { class: "n", text: "0" }), el("span", { class: "label", text: status })));
  }
  for (const tab of document.querySelectorAll("#tabs .tab")) {
    tab.addEventListener("click", () => selectStatus(tab.dataset.status));
    tab.setAttribute("aria-selected", String(tab.dataset.status === view.status));
  }
  $("kind-filter").addEventListener("change", (ev) => {
    view.kind = ev.target.value;
    last.jobs = null;
    refreshNow();
  });
  $("retry-all").addEventListener("click", (ev) => {
    const scope = view.kind ? `failed ${view.kind} jobs` : "failed jobs";
    if (window.confirm(`Retry every ${scope}, across all tenants?`)) {
      act(ev.currentTarget, "/api/v1/ops/jobs/retry", "Retry all",
        (r) => `${fmtInt(r.affected)} job(s) queued again, ${fmtInt((r.skipped || []).length)} skipped.`,
        view.kind ? { status: "failed", kind: view.kind } : { status: "failed" });
    }
  });
  $("requeue-dead").addEventListener("click", (ev) => {
    if (window.confirm("Requeue every dead letter through its job row?")) {
      act(ev.currentTarget, "/api/v1/ops/dead-letters/requeue", "Requeue dead letters",
        (r) => `${fmtInt(r.requeued)} job(s) requeued, ${fmtInt(r.removed)} dead message(s) removed.`);
    }
  });
  $("pause").addEventListener("click", (ev) => {
    loop.paused = !loop.paused;
    ev.currentTarget.textContent = loop.paused ? "Resume" : "Pause";
    setLive(loop.paused ? "paused" : "ok");
    if (loop.paused) clearTimeout(loop.timer);
    else tick();
  });
  $("logout").addEventListener("click", async () => {
    await signOut();
    showLogin("");
  });
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const email = $("email").value.trim();
    const password = $("password").value;
    $("password").value = "";
    if (!email || !password) return;
    try {
      const user = await signIn(email, password);
      if (!user.is_operator) {
        await signOut();
        showLogin(NOT_OPERATOR);
        return;
      }
    } catch (err) {
      showLogin(err instanceof ApiError && err.code === "invalid_credentials"
        ? "Wrong email or password." : `Cannot sign in: ${err.message}`);
      return;
    }
    showConsole();
  });
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    auth.save(token, null);
    showConsole();
  });
  setInterval(updateAges, 1000);

  if (auth.token()) {
    showConsole();
  } else {
    showLogin("");
  }
}

document.addEventListener("DOMContentLoaded", init);
