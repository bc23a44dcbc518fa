/* The job drawer of the ops console: one job's whole story from GET /api/v1/ops/jobs/{id}.
 *
 * Deep-linkable as /ops#job=<id>. Shows the status and timeline (created → each attempt → finished), every
 * attempt's error in words, the recovery points (the ConnectWise note id), payload and result as formatted
 * JSON, and Retry / Cancel shown under the API's own rules (the API decides; its refusal is shown as is).
 */
import { clock, el, secs, short } from "./ops_dom.js";

const $ = (id) => document.getElementById(id);
const state = { id: null, api: null, act: null, onGone: null, last: null };
const WAITING = ["queued", "retrying"];
const IRREVOCABLE_STEPS = ["note_attempted"]; // as shared/jobs/state_machine.py: the note may be on the ticket

const OUTCOME_WORDS = {
  succeeded: "succeeded",
  retrying: "failed, to be retried",
  failed: "failed for good",
  worker_lost: "its worker process stopped (the attempt was not charged)",
  crashed: "killed the process it ran in, again: failed",
};

export function initDrawer({ api, act, onGone }) {
  Object.assign(state, { api, act, onGone });
  $("job-close").addEventListener("click", () => closeJob());
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && state.id) closeJob();
  });
}

/** Open the drawer for the job named by the location hash (#job=<id>), or close it. */
export function jobFromHash() {
  const m = /^#job=([0-9a-fA-F-]{36})$/.exec(window.location.hash);
  if (!m) {
    if (state.id) closeJob({ keepHash: true });
    return;
  }
  openJob(m[1].toLowerCase());
}

export function openJob(id) {
  if (state.id !== id) {
    state.id = id;
    state.last = null;
    $("job-title").textContent = `Job ${short(id)}`;
    $("job-body").replaceChildren(el("p", { class: "muted", text: "Loading…" }));
    $("job-actions").replaceChildren();
  }
  $("job-drawer").hidden = false;
  $("job-drawer").dataset.jobId = id;
  refreshJob().catch((err) => showProblem(err));
}

export function closeJob({ keepHash = false } = {}) {
  state.id = null;
  state.last = null;
  const drawer = $("job-drawer");
  if (drawer) {
    drawer.hidden = true;
    delete drawer.dataset.jobId;
  }
  if (!keepHash && window.location.hash.startsWith("#job=")) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
}

/** Re-read the open job (the console's 2-second loop calls it); no-op when the drawer is closed. */
export async function refreshJob() {
  const id = state.id;
  if (!id) return;
  let detail;
  try {
    detail = await state.api(`/api/v1/ops/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404 && state.id === id) {
      showNotFound(id);
      return;
    }
    throw err;
  }
  if (state.id !== id) return; // another job was opened meanwhile
  const key = JSON.stringify(detail);
  if (key === state.last) return; // unchanged: keep the drawer (and its scroll position) as it is
  state.last = key;
  render(detail);
}

function showNotFound(id) {
  state.last = null;
  $("job-title").textContent = `Job ${short(id)}`;
  $("job-actions").replaceChildren();
  $("job-body").replaceChildren(el("p", { class: "empty", "data-testid": "not-found", text: "No such job (it may have been deleted)." }));
}

function showProblem(err) {
  if (!state.id) return;
  $("job-body").prepend(el("p", { class: "error", text: `Cannot load the job — ${err.message}` }));
}

// ---- rendering -------------------------------------------------------------------------------

function render({ job, attempts, timeline, links }) {
  $("job-title").replaceChildren(el("code", { text: job.kind }), " ",
    el("span", { class: `status status-${job.status}`, id: "job-status", text: job.status }));
  $("job-drawer").dataset.status = job.status;
  renderActions(job);
  // (replaceChildren would write a null as the text "null": absent sections are left out)
  $("job-body").replaceChildren(...[
    summary(job, links),
    job.error ? section("Current error", el("p", { class: "error-words", text: errorWords(job.error) })) : null,
    section(`Attempts (${attempts.length})`, attemptsList(attempts), "job-attempts"),
    section("Timeline", timelineList(timeline), "job-timeline"),
    section("Recovery points", stepsList(job.steps), "job-steps"),
    section("Payload (secrets redacted)", json(job.payload), "job-payload"),
    section("Result", job.result ? json(job.result) : el("p", { class: "muted", text: "No result yet." }), "job-result"),
  ].filter(Boolean));
}

function renderActions(job) {
  const buttons = [];
  const id = encodeURIComponent(job.id);
  if (job.status === "failed") {
    buttons.push(el("button", {
      type: "button", class: "btn btn-sm btn-retry", id: "job-retry",
      onclick: (ev) => state.act(ev.currentTarget, `/api/v1/ops/jobs/${id}/retry`, "Retry",
        () => `${job.kind} ${short(job.id)} is queued again.`),
    }, "Retry"));
  }
  const irrevocable = (job.steps || []).some((s) => IRREVOCABLE_STEPS.includes(s.name));
  if (WAITING.includes(job.status) && !irrevocable) {
    buttons.push(el("button", {
      type: "button", class: "btn btn-sm btn-cancel", id: "job-cancel",
      onclick: (ev) => state.act(ev.currentTarget, `/api/v1/ops/jobs/${id}/cancel`, "Cancel",
        () => `${job.kind} ${short(job.id)} is cancelled.`),
    }, "Cancel"));
  }
  if (WAITING.includes(job.status) && irrevocable) {
    buttons.push(el("span", { class: "small muted", text: "Not cancellable: its note may already be on the ticket." }));
  }
  $("job-actions").replaceChildren(...buttons);
}

function section(title, body, id) {
  return el("section", { class: "drawer-section", id }, el("h3", { text: title }), body);
}

function row(label, ...value) {
  return [el("dt", { text: label }), el("dd", null, ...value)];
}

function summary(job, links) {
  const rows = [
    ...row("Job id", el("span", { class: "mono", text: job.id })),
    ...row("Attempts", `${job.attempts} of ${job.max_attempts} used`,
      job.crashes ? ` · ${job.crashes} worker loss(es)` : "",
      job.retries && job.retries.length ? ` · retried by hand ${job.retries.length}×` : ""),
    ...row("Tenant", job.account_id ? el("span", { class: "mono", text: job.account_id }) : "platform"),
    ...row("Queue", job.queue),
    ...row("Created", `${clock(job.created_at)} `, el("span", { class: "muted small", text: job.created_at })),
  ];
  if (job.finished_at) rows.push(...row("Finished", clock(job.finished_at)));
  if (job.next_attempt_at && WAITING.includes(job.status)) rows.push(...row("Next try", clock(job.next_attempt_at)));
  if (job.worker && job.status === "running") rows.push(...row("Running on", el("span", { class: "mono", text: job.worker })));
  if (job.session_id) {
    rows.push(...row("Session", el("span", { class: "mono", text: job.session_id }), " ",
      el("a", { href: links.session_page, class: "small", id: "job-session-link", text: "engineer's page" })));
  }
  if (job.batch_id) {
    rows.push(...row("Batch", el("span", { class: "mono", id: "job-batch-link", title: links.batch, text: job.batch_id })));
  }
  rows.push(...row("Dedupe key", job.dedupe_key ? el("span", { class: "mono", text: job.dedupe_key }) : "—"));
  rows.push(...row("Idempotency key", job.idempotency_key ? el("span", { class: "mono", text: job.idempotency_key }) : "—"));
  rows.push(...row("Link", el("a", { href: links.console, text: links.console })));
  return el("dl", { class: "kv", id: "job-summary" }, ...rows);
}

/** An error as a sentence: its message, then its stable code. */
export function errorWords(error) {
  if (!error) return "";
  const message = error.message || "no message";
  return `${message} (${error.code || "error"})`;
}

function attemptWords(a) {
  const parts = [`${OUTCOME_WORDS[a.outcome] || a.outcome}`];
  if (a.error && a.outcome !== "succeeded") parts[0] += `: ${errorWords(a.error)}`;
  const more = [];
  if (a.retry_after_s !== null && a.retry_after_s !== undefined) {
    more.push(`The remote side asked to wait ${secs(a.retry_after_s)} (Retry-After), and it was honoured.`);
  }
  if (a.next_attempt_at) more.push(`Next try due at ${clock(a.next_attempt_at)}.`);
  if (a.step) more.push(`It had reached the recovery point “${a.step}”.`);
  if (a.external_errors) more.push(`${a.external_errors} external call(s) failed.`);
  return [parts[0] + ".", ...more].join(" ");
}

function attemptsList(attempts) {
  if (!attempts.length) return el("p", { class: "muted", text: "No attempt has ended yet." });
  return el("ol", { class: "attempts" }, ...attempts.map((a) => el("li", {
    class: `attempt outcome-${a.outcome}`, dataset: { number: String(a.number), outcome: a.outcome },
  },
  el("div", { class: "attempt-head" },
    el("strong", { text: `Attempt ${a.number}` }), " ",
    el("span", { class: `status status-${a.outcome === "worker_lost" ? "retrying" : a.outcome === "crashed" ? "failed" : a.outcome}`, text: a.outcome }),
    el("span", { class: "muted small", text: ` ${clock(a.started_at)} → ${clock(a.finished_at)} · ran ${secs(a.run_time_s)} · waited ${secs(a.queue_wait_s)}${a.worker ? ` · ${a.worker}` : ""}` })),
  el("p", { class: "attempt-words", text: attemptWords(a) }))));
}

const EVENT_WORDS = {
  created: () => "Created",
  attempt_started: (e) => (e.running ? `Attempt started on ${e.worker || "a worker"} — running now` : `Attempt ${e.number} started on ${e.worker || "a worker"}`),
  attempt_ended: (e) => `Attempt ${e.number} ${OUTCOME_WORDS[e.outcome] || e.outcome}${e.error && e.outcome !== "succeeded" ? ` — ${e.error.code}` : ""}`,
  retried: (e) => `Retried by hand (${e.via || "api"})`,
  succeeded: () => "Finished: succeeded",
  failed: () => "Finished: failed",
  cancelled: () => "Cancelled",
};

function timelineList(events) {
  return el("ol", { class: "timeline" }, ...events.map((e) => el("li", { class: `event event-${e.event}`, dataset: { event: e.event } },
    el("span", { class: "mono small muted", title: e.at || "", text: clock(e.at) }), " ",
    (EVENT_WORDS[e.event] || ((x) => x.event))(e))));
}

function stepWords(step) {
  const d = step.data || {};
  switch (step.name) {
    case "note_attempted":
      return "Note sending started (a retry checks the ticket for it before posting again)";
    case "note_posted":
      return `Note posted — ConnectWise note #${d.external_id}${d.adopted ? " (found on the ticket and adopted, not posted twice)" : ""}`;
    case "status_changed":
      return `Ticket status change to ${d.requested_status_id} requested`;
    case "status_verified":
      return `Ticket status verified by re-fetching it: ${d.name || ""} (${d.id})`;
    default:
      return step.name;
  }
}

function stepsList(steps) {
  if (!steps || !steps.length) return el("p", { class: "muted", text: "None recorded (this kind has none, or it has not reached one)." });
  return el("ol", { class: "steps" }, ...steps.map((s) => el("li", { dataset: { step: s.name } },
    el("span", { class: "step-name", text: stepWords(s) }), " ",
    el("span", { class: "mono small muted", title: s.at || "", text: s.at ? clock(s.at) : "" }))));
}

function json(value) {
  return el("pre", { class: "json", text: JSON.stringify(value, null, 2) });
}
