/* The L1 home (/app/l1): take a call (intake), each outcome handled as a person expects, resume open walks,
 * and the internal ticket queue. Built for a phone first: technicians work at customer sites. */
import { useEffect, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, post } from "../js/api.js";
import { Link, ago, describeError, html, navigate, showToast, toastError } from "./ui.js";
import { REASON_CATEGORIES, WalkBadge } from "./walk_parts.js";

/** What intake said about the walk it opened, kept for the walk page (shown small above the question). */
export const intakeNotes = new Map();

const OUT_OF_SCOPE_WORDS = {
  category_disabled: (c) => `“${c}” problems are not handled by L1 in this account (the category is switched off).`,
  category_unknown: () => "This does not look like any kind of problem L1 handles here.",
};

function opened(body) {
  intakeNotes.set(body.session_id, body);
  navigate(`/app/l1/sessions/${body.session_id}`);
}

function EscalateWithoutWalk({ call, onDone }) {
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    setBusy(true);
    try {
      const body = { problem_statement: call.problem_statement, reason_category: form.elements.category.value };
      const reason = form.elements.reason.value.trim();
      if (reason) body.reason = reason;
      if (call.customer_name) body.customer_name = call.customer_name;
      if (call.customer_contact) body.customer_contact = call.customer_contact;
      await post("/api/v1/l1/escalate-without-walk", body);
      showToast("success", "Escalated to the engineers' queue. The ticket is in your queue below.", { title: "Escalated" });
      onDone();
    } catch (err) {
      toastError(err, "Could not escalate");
      setBusy(false);
    }
  };
  return html`
    <form class="stack" onSubmit=${submit}>
      <div class="field">
        <label for="ewo-category">Why escalate?</label>
        <select id="ewo-category" name="category" data-testid="walk-reason-category">
          ${REASON_CATEGORIES.map(([v, w]) => html`<option value=${v} selected=${v === "out_of_scope"}>${w}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="ewo-reason">What should the engineer know? <span class="muted">(optional)</span></label>
        <textarea id="ewo-reason" name="reason" rows="2" data-testid="walk-reason"></textarea>
      </div>
      <button type="submit" class="btn btn-primary btn-big" data-testid="escalate-without-walk" disabled=${busy}>
        ${busy ? "Escalating…" : "Escalate without a walk"}</button>
    </form>`;
}

function Outcome({ result, call, onStart, onReset, busy }) {
  const near = result.near_miss;
  if (result.outcome === "suggest") {
    return html`
      <section class="card outcome" data-testid="intake-outcome" data-outcome="suggest" aria-labelledby="outcome-h" tabindex="-1">
        <h2 id="outcome-h"><span aria-hidden="true">≈ </span>Close, but not a sure match</h2>
        <p>The nearest flow is <strong>${near.title}</strong>
          <span class="muted small"> · score ${near.score.toFixed(2)} · words: ${(near.matched_terms || []).join(", ") || "—"}</span></p>
        <div class="row">
          <button type="button" class="btn btn-primary btn-big" data-testid="intake-use-suggestion" disabled=${busy}
            onClick=${() => onStart({ flow_id: near.flow_id })}>Use “${near.title}”</button>
          <button type="button" class="btn btn-big" data-testid="intake-build" disabled=${busy}
            onClick=${() => onStart({ force_build: true })}>Build a new walk</button>
        </div>
        <p class="muted small">A new walk is written one question at a time by the assistant, from the problem you typed.</p>
      </section>`;
  }
  if (result.outcome === "out_of_scope") {
    const why = (OUT_OF_SCOPE_WORDS[result.reason] || OUT_OF_SCOPE_WORDS.category_unknown)(result.category);
    return html`
      <section class="card outcome" data-testid="intake-outcome" data-outcome="out_of_scope" data-reason=${result.reason}
        aria-labelledby="outcome-h" tabindex="-1">
        <h2 id="outcome-h"><span aria-hidden="true">⊘ </span>Not an L1 walk</h2>
        <p>${why}</p>
        <${EscalateWithoutWalk} call=${call} onDone=${onReset} />
      </section>`;
  }
  return null;
}

function Intake({ onEscalated }) {
  const [result, setResult] = useState(null);
  const [call, setCall] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  useEffect(() => {
    const el = document.querySelector('[data-testid="intake-outcome"]');
    if (el) el.focus();
  }, [result]);

  const run = async (body) => {
    setBusy(true);
    setError("");
    try {
      const answer = await post("/api/v1/l1/intake", body);
      if (answer.session_id) {
        opened(answer);
        return;
      }
      setResult(answer);
    } catch (err) {
      setError(describeError(err));
    }
    setBusy(false);
  };
  const start = (extra) => run({ ...call, ...extra });

  const submit = (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget.elements;
    const next = { problem_statement: f.problem.value.trim() };
    if (!next.problem_statement) {
      setError("Type the problem as the customer says it.");
      return;
    }
    if (f.customer.value.trim()) next.customer_name = f.customer.value.trim();
    if (f.contact.value.trim()) next.customer_contact = f.contact.value.trim();
    setCall(next);
    setResult(null);
    run(next);
  };

  const reset = () => {
    setResult(null);
    setCall(null);
    const form = document.getElementById("intake-form");
    if (form) form.reset();
    onEscalated();
  };

  return html`
    <section class="card intake" aria-labelledby="intake-h">
      <h2 id="intake-h">Take a call</h2>
      <form id="intake-form" onSubmit=${submit}>
        <label for="in-problem">What is the problem?</label>
        <textarea id="in-problem" name="problem" rows="3" required data-testid="intake-problem"
          placeholder="In the customer's words, e.g. Outlook keeps asking for my password"></textarea>
        <div class="row">
          <div class="field">
            <label for="in-customer">Customer <span class="muted">(optional)</span></label>
            <input id="in-customer" name="customer" autocomplete="off" data-testid="intake-customer" maxlength="200" />
          </div>
          <div class="field">
            <label for="in-contact">Contact <span class="muted">(optional)</span></label>
            <input id="in-contact" name="contact" autocomplete="off" data-testid="intake-contact" maxlength="320"
              placeholder="phone or email" />
          </div>
        </div>
        <p class="form-error" role="alert" hidden=${!error}>${error}</p>
        <button type="submit" class="btn btn-primary btn-big" data-testid="intake-submit" disabled=${busy}>
          ${busy ? "Looking for a flow…" : "Find a walk"}</button>
      </form>
      <div aria-live="polite">
        ${result ? html`<${Outcome} result=${result} call=${call} onStart=${start} onReset=${reset} busy=${busy} />` : null}
      </div>
    </section>`;
}

function Resume({ items }) {
  return html`
    <section class="card" aria-labelledby="resume-h">
      <h2 id="resume-h">Resume in progress <span class="count">${items ? items.length : "…"}</span></h2>
      ${items && !items.length ? html`<p class="muted">No open walks. Calls you leave half-way show here.</p>` : null}
      <ul class="plain-list">
        ${(items || []).map((s) => html`
          <li key=${s.id} class="resume-item" data-testid="resume-item" data-session-id=${s.id}>
            <${Link} href=${`/app/l1/sessions/${s.id}`} class="list-link">
              <span class="list-title">${(s.ticket && s.ticket.problem_statement) || s.flow_title || "Walk"}</span>
              <span class="list-meta">
                ${s.ticket && s.ticket.customer_name ? html`<span>${s.ticket.customer_name}</span>` : null}
                <span>${s.flow_title || (s.session_kind === "ai_build" ? "AI-built walk" : "")}</span>
                <span class="muted">${s.walked_path.length} answered · touched ${ago(s.last_step_at || s.started_at)}</span>
              </span>
              ${s.current_node ? html`<span class="muted small">Next: ${s.current_node.text}</span>` : null}
            </${Link}>
          </li>`)}
      </ul>
    </section>`;
}

const TICKET_STATUS = { open: "Open", in_progress: "In progress", resolved: "Resolved", escalated: "Escalated" };

function Queue({ items, cursor, onMore }) {
  return html`
    <section class="card" aria-labelledby="queue-h">
      <h2 id="queue-h">Ticket queue</h2>
      ${items && !items.length ? html`<p class="muted">No internal tickets yet.</p>` : null}
      <ul class="plain-list">
        ${(items || []).map((t) => html`
          <li key=${t.ticket_id} class="ticket-row" data-testid="ticket-row" data-ticket-id=${t.ticket_id} data-status=${t.status}>
            ${t.session_id ? html`<${Link} href=${`/app/l1/sessions/${t.session_id}`} class="list-link">
                <${TicketLine} t=${t} /></${Link}>`
              : html`<div class="list-link"><${TicketLine} t=${t} /></div>`}
          </li>`)}
      </ul>
      ${cursor ? html`<button type="button" class="btn" onClick=${onMore}>Show more</button>` : null}
    </section>`;
}

function TicketLine({ t }) {
  const status = { open: "active", in_progress: "active", resolved: "resolved", escalated: "escalated" }[t.status] || "active";
  return html`
    <span class="list-title">${t.problem_statement}</span>
    <span class="list-meta">
      <${WalkBadge} status=${status} />
      <span class="sr-only">Ticket status:</span><span>${TICKET_STATUS[t.status] || t.status}</span>
      ${t.customer_name ? html`<span>${t.customer_name}</span>` : null}
      <span class="muted">${ago(t.created_at)}</span>
    </span>`;
}

export function L1Page() {
  const [active, setActive] = useState(null);
  const [queue, setQueue] = useState(null);
  const [cursor, setCursor] = useState(null);

  const load = async () => {
    try {
      const [a, q] = await Promise.all([get("/api/v1/l1/sessions/active?limit=20"), get("/api/v1/l1/queue?limit=25")]);
      setActive(a.items);
      setQueue(q.items);
      setCursor(q.next_cursor);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) toastError(err, "Could not load your walks");
    }
  };
  const more = async () => {
    try {
      const q = await get(`/api/v1/l1/queue?limit=25&cursor=${encodeURIComponent(cursor)}`);
      setQueue([...queue, ...q.items]);
      setCursor(q.next_cursor);
    } catch (err) {
      toastError(err, "Could not load more tickets");
    }
  };
  useEffect(() => {
    load();
  }, []);

  return html`
    <div class="l1-page">
      <h1 tabindex="-1">L1 workspace</h1>
      <div class="l1-grid">
        <${Intake} onEscalated=${load} />
        <div>
          <${Resume} items=${active} />
          <${Queue} items=${queue} cursor=${cursor} onMore=${more} />
        </div>
      </div>
    </div>`;
}
