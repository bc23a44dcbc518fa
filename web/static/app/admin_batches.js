/* Batches for admins and owners (/app/admin/batches): choose an action and a filter, see the dry run's count
 * and first sessions, start, watch progress live, cancel, and read the outcome (mismatches for re-verification,
 * failed children with their error in words and a retry). Everything comes from POST/GET /api/v1/batches. */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, post } from "../js/api.js";
import { Link, SESSION_STATUS_WORDS, ago, fmtTime, html, showToast, toastError } from "./ui.js";

const ACTIONS = [
  ["regenerate_resolution_note", "Regenerate resolution notes"],
  ["regenerate_escalation_package", "Regenerate escalation packages"],
  ["retry_failed_writebacks", "Retry failed writebacks"],
  ["reverify_ticket_status", "Re-verify ticket statuses"],
];
const ACTION_WORDS = Object.fromEntries(ACTIONS);
const STATUSES = [["", "Any status"], ...Object.entries(SESSION_STATUS_WORDS)];
const BATCH_WORDS = { expanding: "Preparing", running: "Running", succeeded: "Finished", failed: "Failed",
  cancelled: "Cancelled" };
const ACTIVE = ["expanding", "running"];
// Failures in words: what happened and what to do; the API's own message follows.
const ERROR_WORDS = {
  llm_batch_request_failed: "Anthropic refused this request in the batch.",
  llm_rate_limited: "Anthropic was rate limiting us; the retries ran out.",
  llm_overloaded: "Anthropic was overloaded; the retries ran out.",
  llm_unavailable: "Anthropic was unavailable; the retries ran out.",
  llm_invalid_output: "The model's answer could not be used.",
  llm_output_truncated: "The model's answer was cut off.",
  llm_refused: "The model declined to write this draft.",
  session_not_found: "The session no longer exists.",
  no_psa_ticket: "The session has no ConnectWise ticket.",
  psa_auth_failed: "ConnectWise refused our keys.",
  psa_unreachable: "ConnectWise could not be reached.",
  status_verification_failed: "ConnectWise did not take the status change.",
  worker_lost: "The worker running it stopped.",
};
const POLL_MS = 1500;
const usd = (n) => (n == null ? "—" : `$${n < 0.01 && n > 0 ? n.toFixed(4) : n.toFixed(2)}`);

function filterOf(form) {
  const flt = {};
  if (form.status) flt.status = form.status;
  if (form.updatedSince) flt.updated_since = new Date(form.updatedSince).toISOString();
  return flt;
}

function DryRun({ result }) {
  if (!result) return null;
  const total = result.total != null ? `${result.total} session${result.total === 1 ? "" : "s"}`
    : `at least ${result.total_at_least} sessions${result.count_timed_out ? " (the count took too long)" : ""}`;
  return html`
    <div class="dry-run" role="status" aria-live="polite">
      <p><strong data-testid="batch-dry-run-total" data-total=${result.total ?? ""}>${total}</strong> match.
        ${result.exceeds_limit ? html` <span class="form-error">A batch takes at most ${result.limit}; narrow the filter.</span>` : null}</p>
      ${result.sample.length ? html`
        <p class="muted small">The first ${result.sample.length}:</p>
        <ul class="plain sample-list">
          ${result.sample.map((s) => html`<li data-testid="batch-sample">
            <${Link} href=${`/app/sessions/${s.id}`}>${s.title}</${Link}>
            <span class="muted small"> · ${s.status}${s.ticket_id ? ` · ticket #${s.ticket_id}` : ""} · updated ${ago(s.updated_at)}</span></li>`)}
        </ul>` : null}
    </div>`;
}

function NewBatch({ onStarted }) {
  const [form, setForm] = useState({ action: ACTIONS[0][0], status: "", updatedSince: "" });
  const [dry, setDry] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (key) => (ev) => { setForm({ ...form, [key]: ev.currentTarget.value }); setDry(null); };
  const body = () => ({ action: form.action, filter: filterOf(form) });
  const dryRun = async () => {
    setBusy(true);
    try {
      setDry(await post("/api/v1/batches", { ...body(), dry_run: true }));
    } catch (err) {
      toastError(err, "Could not count the sessions");
    } finally {
      setBusy(false);
    }
  };
  const start = async () => {
    setBusy(true);
    try {
      const res = await post("/api/v1/batches", body());
      showToast("success", `${ACTION_WORDS[form.action]}: batch started.`);
      setDry(null);
      onStarted(res.batch);
    } catch (err) {
      toastError(err, "Could not start the batch");
    } finally {
      setBusy(false);
    }
  };
  const canStart = dry && !dry.exceeds_limit && (dry.total == null || dry.total > 0);
  return html`
    <section class="card" aria-labelledby="new-batch-h">
      <h2 id="new-batch-h">New batch</h2>
      <div class="row">
        <div class="field"><label for="batch-action">Action</label>
          <select id="batch-action" data-testid="batch-action" value=${form.action} onChange=${set("action")}>
            ${ACTIONS.map(([v, words]) => html`<option value=${v}>${words}</option>`)}</select></div>
        <div class="field"><label for="batch-status">Session status</label>
          <select id="batch-status" data-testid="batch-filter-status" value=${form.status} onChange=${set("status")}>
            ${STATUSES.map(([v, words]) => html`<option value=${v}>${words}</option>`)}</select></div>
        <div class="field"><label for="batch-since">Updated since <span class="muted">(optional)</span></label>
          <input id="batch-since" type="datetime-local" data-testid="batch-filter-updated-since" value=${form.updatedSince}
            onInput=${set("updatedSince")} /></div>
      </div>
      <p class="row">
        <button type="button" class="btn" data-testid="batch-dry-run" disabled=${busy} onClick=${dryRun}>Count sessions</button>
        <button type="button" class="btn btn-primary" data-testid="batch-start" disabled=${busy || !canStart}
          title=${canStart ? "" : "Count the sessions first"} onClick=${start}>Start batch</button>
      </p>
      <${DryRun} result=${dry} />
    </section>`;
}

function Progress({ b }) {
  const done = b.succeeded + b.failed + b.cancelled;
  const pct = b.total ? Math.round((100 * done) / b.total) : (ACTIVE.includes(b.status) ? 0 : 100);
  return html`
    <div class="batch-progress" data-testid="batch-progress" data-done=${done} data-total=${b.total}
      data-succeeded=${b.succeeded} data-failed=${b.failed}>
      <div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}
        aria-label="Batch progress"><span class="bar-ok" style=${{ width: `${b.total ? (100 * b.succeeded) / b.total : 0}%` }}></span><span
        class="bar-bad" style=${{ width: `${b.total ? (100 * b.failed) / b.total : 0}%` }}></span></div>
      <p class="small">${done} of ${b.total} done (${pct}%) · ${b.succeeded} succeeded · ${b.failed} failed
        · ${b.cancelled} cancelled · ${b.pending} waiting</p>
    </div>`;
}

function LlmInfo({ llm }) {
  if (!llm || !llm.mode) return null;
  const cost = llm.cost || {};
  const est = cost.estimated, act = cost.actual || {};
  return html`
    <div class="llm-info small" data-testid="batch-cost" data-mode=${llm.mode}>
      <p>${llm.mode === "message_batches"
        ? html`Through Anthropic's Message Batches (half price): ${llm.provider_batches.length} provider batch${llm.provider_batches.length === 1 ? "" : "es"}
          ${llm.provider_batches.map((g) => html` <span class="chip" title=${g.provider_batch_id || ""}>#${g.seq} ${g.processing_status || g.status}
            ${g.request_counts ? ` · ${g.request_counts.succeeded}/${g.request_count}` : ` · ${g.request_count}`}</span>`)}`
        : "One model call per session."}</p>
      <p>Cost: estimated ${est ? usd(est.usd) : "—"}${est ? html` <span class="muted">(${usd(est.usd_per_call)} per call)</span>` : null}${
        ` · so far ${usd(act.usd)} for ${act.requests || 0} drafts`}${
        act.usd_per_call ? html` <span class="muted">(${usd(act.usd_per_call)} at per-call prices)</span>` : null}${
        ` · ${(act.input_tokens || 0) + (act.cache_read_input_tokens || 0) + (act.cache_creation_input_tokens || 0)} input / ${
          act.output_tokens || 0} output tokens`}${
        act.cache_read_input_tokens ? `, ${act.cache_read_input_tokens} read from the prompt cache` : ""}</p>
    </div>`;
}

function Mismatches({ items }) {
  if (!items || !items.length) return null;
  return html`
    <div class="batch-outcome"><h4>Tickets that changed behind our back (${items.length})</h4>
      <ul class="plain">${items.map((m) => html`
        <li data-testid="batch-mismatch" data-session-id=${m.session_id} data-ticket-id=${m.ticket_id}>
          <${Link} href=${`/app/sessions/${m.session_id}`}>Session</${Link}> · ticket #${m.ticket_id}:
          we verified status <strong>${m.expected_status_id}</strong>; ConnectWise now shows${" "}<strong>${m.observed_status_name || "?"} (${m.observed_status_id})</strong></li>`)}</ul></div>`;
}

function Failures({ b, onChange }) {
  const [busy, setBusy] = useState(false);
  if (!b.failures || !b.failures.length) return null;
  const retry = async () => {
    setBusy(true);
    try {
      const res = await post(`/api/v1/batches/${b.id}/retry-failed`, {});
      showToast(res.refused.length ? "info" : "success",
        `${res.retried} retried${res.refused.length ? `; ${res.refused.length} could not be retried` : ""}.`);
      onChange(res.batch);
    } catch (err) {
      toastError(err, "Could not retry");
    } finally {
      setBusy(false);
    }
  };
  return html`
    <div class="batch-outcome"><h4>Failed (${b.failed})</h4>
      <ul class="plain">${b.failures.map((f) => html`
        <li data-testid="batch-failure" data-job-id=${f.job_id} data-code=${f.code}>
          ${f.session_id ? html`<${Link} href=${`/app/sessions/${f.session_id}`}>Session</${Link}>: ` : null}
          <strong>${ERROR_WORDS[f.code] || "It failed."}</strong> <span class="muted">${f.message || ""} (${f.code})</span></li>`)}</ul>
      ${b.status !== "cancelled" ? html`<button type="button" class="btn btn-sm" data-testid="batch-retry-failed" disabled=${busy}
        onClick=${retry}>Retry the failed ones</button>` : null}</div>`;
}

function BatchRow({ b, onChange }) {
  const cancel = async () => {
    try {
      onChange(await post(`/api/v1/batches/${b.id}/cancel`, {}));
      showToast("info", "Batch cancelled: waiting work stops; running work finishes.");
    } catch (err) {
      toastError(err, "Could not cancel");
    }
  };
  return html`
    <li class="card batch-row" data-testid="batch-row" data-batch-id=${b.id} data-status=${b.status}>
      <div class="card-head"><h3>${ACTION_WORDS[b.action] || b.action}</h3>
        <span class=${`chip batch-${b.status}`} data-testid="batch-status">${BATCH_WORDS[b.status] || b.status}</span></div>
      <p class="muted small">Started ${fmtTime(b.created_at)}${b.finished_at ? ` · finished ${ago(b.finished_at)}` : ""}
        ${b.filter && Object.keys(b.filter).length ? ` · filter ${Object.entries(b.filter).map(([k, v]) => `${k}=${Array.isArray(v) ? `${v.length} ids` : v}`).join(", ")}` : ""}</p>
      <${Progress} b=${b} />
      <${LlmInfo} llm=${b.llm} />
      ${ACTIVE.includes(b.status) ? html`<button type="button" class="btn btn-danger btn-sm" data-testid="batch-cancel"
        onClick=${cancel}>Cancel batch</button>` : null}
      <${Mismatches} items=${b.mismatches} />
      <${Failures} b=${b} onChange=${onChange} />
      ${b.skipped_total ? html`<p class="small muted">${b.skipped_total} session(s) skipped (another job already does their work).</p>` : null}
    </li>`;
}

export function BatchesPage() {
  const [items, setItems] = useState(null);
  const timer = useRef(null);
  const load = async () => {
    try {
      setItems((await get("/api/v1/batches?limit=20")).items);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) toastError(err, "Could not load the batches");
    }
  };
  useEffect(() => { load(); return () => clearTimeout(timer.current); }, []);
  // Live while anything is active (still counting its last children, or a provider batch is out): one list
  // request per tick.
  useEffect(() => {
    clearTimeout(timer.current);
    const busy = (b) => ACTIVE.includes(b.status) || b.pending
      || (b.llm && b.llm.provider_batches.some((g) => g.status === "submitting" || g.status === "submitted"));
    if (items && items.some(busy)) timer.current = setTimeout(load, POLL_MS);
  }, [items]);
  const replace = (b) => setItems((list) => (list || []).map((x) => (x.id === b.id ? b : x)));
  return html`
    <div class="batches-page">
      <p class="small"><${Link} href="/app/admin">← Account setup</${Link}></p>
      <h1 tabindex="-1">Batches</h1>
      <p class="muted">Reprocess many sessions at once. Count first: nothing starts until you press “Start batch”.</p>
      <${NewBatch} onStarted=${(b) => setItems((list) => [b, ...(list || [])])} />
      <h2>Recent batches</h2>
      ${items === null ? html`<p class="muted">Loading…</p>`
        : items.length ? html`<ul class="plain batch-list">${items.map((b) => html`<${BatchRow} key=${b.id} b=${b} onChange=${replace} />`)}</ul>`
          : html`<p class="muted">No batches yet.</p>`}
    </div>`;
}
