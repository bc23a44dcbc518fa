/* One L1 walk (/app/l1/sessions/{id}): the current question with one big button per answer, the path so far,
 * notes, and resolve / escalate at the end or at any time. An AI-built walk asks the assistant for its next
 * question (a job, shown live, retried on request). A finished walk is read-only. */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, newIdempotencyKey, post } from "../js/api.js";
import { intakeNotes } from "./l1.js";
import { jobLine, useJob } from "./jobs.js";
import { AddLine, Link, describeError, fmtTime, html, showToast, toastError } from "./ui.js";
import { REASON_CATEGORIES, WalkBadge, WalkNotes, WalkPath, reasonWords } from "./walk_parts.js";

function MatchNote({ intake }) {
  if (!intake) return null;
  const m = intake.match;
  if (intake.outcome === "build") {
    return html`<p class="muted small" data-testid="intake-outcome" data-outcome="build">
      No flow fits: the assistant builds this walk one question at a time (category ${intake.category}).</p>`;
  }
  return html`<p class="muted small" data-testid="intake-outcome" data-outcome="matched" data-reason=${intake.reason || ""}>
    ${intake.reason === "chosen" ? "Chosen flow" : "Matched"} “${m ? m.title : ""}”
    ${m ? html` · score ${m.score.toFixed(2)} · words: ${(m.matched_terms || []).join(", ") || "—"}` : null}</p>`;
}

function Question({ session, onStep, busy, headingRef }) {
  const node = session.current_node;
  return html`
    <section class="card walk-current" aria-labelledby="q-h">
      <p class="muted small">Question ${session.walked_path.length + 1}</p>
      <h2 id="q-h" tabindex="-1" ref=${headingRef} class="walk-question" data-testid="walk-question"
        data-node-id=${node.id}>${node.text}</h2>
      <div class="answers" role="group" aria-labelledby="q-h">
        ${(node.answers || []).map((a) => html`
          <button type="button" class="btn btn-big answer" data-testid="walk-answer" disabled=${busy}
            onClick=${() => onStep(node, a.label)}>${a.label}</button>`)}
      </div>
    </section>`;
}

function NextNode({ session, onNode }) {
  const [job, follow] = useJob();
  const [error, setError] = useState("");
  const key = useRef(newIdempotencyKey());

  const ask = async (fresh) => {
    if (fresh) key.current = newIdempotencyKey();
    setError("");
    try {
      const data = await post(`/api/v1/l1/sessions/${encodeURIComponent(session.id)}/next-node`, {},
        { idempotencyKey: key.current });
      const final = await follow(data.job);
      if (!final) return;
      if (final.status === "succeeded") onNode();
      else setError(`The next question could not be written: ${(final.error && final.error.message) || final.status}.`);
    } catch (err) {
      if (err instanceof ApiError && err.code === "session_finished") onNode();
      else setError(describeError(err));
    }
  };
  useEffect(() => {
    ask(false);
  }, [session.id, session.walked_path.length]);

  const running = job && !["succeeded", "failed", "cancelled"].includes(job.status);
  return html`
    <section class="card walk-current" aria-labelledby="q-h">
      <p class="muted small">Question ${session.walked_path.length + 1}</p>
      ${!error ? html`
        <h2 id="q-h" class="generating" data-testid="walk-next-pending" data-status=${job ? job.status : "queued"}>
          <span class="spinner" aria-hidden="true"></span> Writing the next question…</h2>
        <p class="muted small" role="status" aria-live="polite">Assistant: ${job ? jobLine(job) : "starting"}</p>` : html`
        <h2 id="q-h">The next question is missing</h2>
        <p class="form-error" role="alert">${error}</p>
        <button type="button" class="btn btn-primary" data-testid="walk-next-retry" disabled=${running}
          onClick=${() => ask(true)}>Try again</button>`}
    </section>`;
}

function Finish({ session, kind, onKind, onDone }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const first = useRef(null);
  useEffect(() => {
    if (kind && first.current) first.current.focus();
  }, [kind]);
  if (!kind) return null;

  const submit = async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget.elements;
    const body = {};
    if (kind === "resolve") {
      if (f.helpful.value) body.helpful = f.helpful.value === "yes";
      if (f.notes.value.trim()) body.resolution_notes = f.notes.value.trim();
    } else {
      body.reason_category = f.category.value;
      if (f.reason.value.trim()) body.reason = f.reason.value.trim();
    }
    setBusy(true);
    setError("");
    try {
      const updated = await post(`/api/v1/l1/sessions/${encodeURIComponent(session.id)}/${kind}`, body);
      showToast("success", kind === "resolve" ? "Walk resolved; the ticket is closed."
        : "Escalated: the engineers' queue has it, with the path and your notes.", { title: kind === "resolve" ? "Resolved" : "Escalated" });
      onDone(updated);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };
  const terminal = session.current_node && ["resolve", "escalate"].includes(session.current_node.type);
  return html`
    <section class=${`card finish finish-${kind}`} aria-labelledby="finish-h">
      <div class="card-head">
        <h2 id="finish-h">${kind === "resolve" ? "Resolve the call" : "Escalate to an engineer"}</h2>
        ${terminal ? null : html`<button type="button" class="btn btn-quiet btn-sm" onClick=${() => onKind(null)}>Cancel</button>`}
      </div>
      <form class="stack" onSubmit=${submit}>
        ${kind === "resolve" ? html`
          <div class="field">
            <label for="w-helpful">Did the walk help?</label>
            <select id="w-helpful" name="helpful" data-testid="walk-helpful" ref=${first}>
              <option value="yes">Yes, it helped</option>
              <option value="no">No, it did not help</option>
              <option value="">Not sure</option>
            </select>
          </div>
          <div class="field">
            <label for="w-notes">Resolution notes <span class="muted">(optional)</span></label>
            <textarea id="w-notes" name="notes" rows="2" data-testid="walk-resolution-notes" maxlength="4000"></textarea>
          </div>` : html`
          <div class="field">
            <label for="w-category">Why escalate?</label>
            <select id="w-category" name="category" data-testid="walk-reason-category" ref=${first}>
              ${REASON_CATEGORIES.map(([v, w]) => html`<option value=${v}>${w}</option>`)}
            </select>
          </div>
          <div class="field">
            <label for="w-reason">What should the engineer know? <span class="muted">(optional)</span></label>
            <textarea id="w-reason" name="reason" rows="2" data-testid="walk-reason" maxlength="2000"></textarea>
          </div>`}
        <p class="form-error" role="alert" hidden=${!error}>${error}</p>
        <button type="submit" class="btn btn-primary btn-big" data-testid="walk-submit" disabled=${busy}>
          ${busy ? "Saving…" : kind === "resolve" ? "Resolve" : "Escalate"}</button>
      </form>
    </section>`;
}

function Notes({ session, onSession, readOnly }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const add = async (ev) => {
    ev.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    try {
      onSession(await post(`/api/v1/l1/sessions/${encodeURIComponent(session.id)}/notes`, { text: text.trim() }));
      setText("");
    } catch (err) {
      toastError(err, "Could not add the note");
    } finally {
      setBusy(false);
    }
  };
  return html`
    <section class="card" aria-labelledby="notes-h">
      <h2 id="notes-h">Notes <span class="count">${session.walk_notes.length}</span></h2>
      <${WalkNotes} notes=${session.walk_notes} />
      ${readOnly ? null : html`<${AddLine} id="w-note" label="New note" testid="walk-note"
        placeholder="What you saw or tried" text=${text} setText=${setText} busy=${busy} onSubmit=${add} />`}
    </section>`;
}

function Finished({ session }) {
  const resolved = session.status === "resolved";
  return html`
    <section class=${`card walk-finished walk-finished-${session.status}`} data-testid="walk-finished"
      data-status=${session.status} aria-labelledby="done-h">
      <h2 id="done-h" tabindex="-1"><span aria-hidden="true">${resolved ? "✓" : "⇪"} </span>
        ${resolved ? "Resolved" : "Escalated"} ${fmtTime(resolved ? session.resolved_at : session.escalated_at)}</h2>
      ${resolved ? html`
        <p>Helpful: ${session.helpful === true ? "yes" : session.helpful === false ? "no" : "not said"}</p>
        ${session.resolution_notes ? html`<p>${session.resolution_notes}</p>` : null}` : html`
        <p><span class="chip">${reasonWords(session.escalation_reason_category)}</span>
          ${session.escalation_reason || html`<span class="muted">no reason given</span>`}</p>
        <p class="muted small">The engineers' queue has it. This walk is read-only now.</p>`}
    </section>`;
}

export function WalkPage({ id }) {
  const [session, setSession] = useState(null);
  const [phase, setPhase] = useState("loading"); // loading | ready | missing | error
  const [error, setError] = useState("");
  const [finish, setFinish] = useState(null); // null | "resolve" | "escalate"
  const [busy, setBusy] = useState(false);
  const headingRef = useRef(null);
  const base = `/api/v1/l1/sessions/${encodeURIComponent(id)}`;
  const intake = intakeNotes.get(id);

  const load = async () => {
    try {
      setSession(await get(base));
      setPhase("ready");
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setPhase("missing");
      else if (!(err instanceof ApiError && err.status === 401)) {
        setError(describeError(err));
        setPhase("error");
      }
    }
  };
  useEffect(() => {
    load();
  }, [id]);

  // The flow ends at a resolve / escalate node (or the AI's answer leads there): open that form.
  const action = session && session.next_action;
  useEffect(() => {
    if (action === "resolve" || action === "escalate") setFinish(action);
  }, [action]);
  useEffect(() => {
    if (headingRef.current) headingRef.current.focus();
  }, [session && session.current_node_id]);

  if (phase === "missing") {
    return html`<section class="empty-state" data-testid="not-found"><h1 tabindex="-1">Walk not found</h1>
      <p>There is no such walk in your account.</p><p><${Link} href="/app/l1">Back to the L1 workspace</${Link}></p></section>`;
  }
  if (phase === "error") return html`<section class="empty-state"><h1 tabindex="-1">Cannot load this walk</h1><p class="form-error" role="alert">${error}</p></section>`;
  if (!session) return html`<p class="muted" role="status">Loading the walk…</p>`;

  const step = async (node, answer) => {
    setBusy(true);
    try {
      setSession(await post(`${base}/step`, { node_id: node.id, answer }));
    } catch (err) {
      if (err instanceof ApiError && ["not_current_node", "session_finished"].includes(err.code)) {
        showToast("info", "This walk moved on meanwhile (another tab or a colleague): showing where it is now.");
        await load();
      } else toastError(err, "Could not record the answer");
    } finally {
      setBusy(false);
    }
  };

  const active = session.status === "active";
  const ticket = session.ticket || {};
  const node = session.current_node;
  return html`
    <div class="walk-page">
      <header class="session-head">
        <p class="crumbs"><${Link} href="/app/l1">L1</${Link}> / this walk</p>
        <h1 tabindex="-1">${ticket.problem_statement || session.flow_title || "Walk"}</h1>
        <p class="muted small">
          ${ticket.customer_name ? html`${ticket.customer_name}${ticket.customer_contact ? ` · ${ticket.customer_contact}` : ""} · ` : null}
          ${session.flow_title ? `Flow: ${session.flow_title}` : session.session_kind === "ai_build" ? "AI-built walk" : ""}
        </p>
        <div class="status-bar"><span class="label">Status</span><${WalkBadge} status=${session.status} testid="walk-status" /></div>
        <${MatchNote} intake=${intake} />
      </header>
      <div class="walk-grid">
        <div class="lane">
          ${!active ? html`<${Finished} session=${session} />` : null}
          ${active && action === "answer" && node ? html`<${Question} session=${session} onStep=${step} busy=${busy} headingRef=${headingRef} />` : null}
          ${active && action === "generate" ? html`<${NextNode} session=${session} onNode=${load} />` : null}
          ${active && node && ["resolve", "escalate"].includes(node.type) ? html`
            <section class="card walk-current walk-end" aria-labelledby="q-h">
              <p class="muted small">${node.type === "resolve" ? "The flow's fix" : "The flow says: escalate"}</p>
              <h2 id="q-h" tabindex="-1" ref=${headingRef} data-testid="walk-question" data-node-id=${node.id}>${node.text}</h2>
            </section>` : null}
          ${active ? html`
            <div class="row walk-actions" role="group" aria-label="Finish the walk">
              <button type="button" class=${finish === "resolve" ? "btn btn-primary" : "btn"} data-testid="walk-resolve"
                aria-pressed=${finish === "resolve" ? "true" : "false"} onClick=${() => setFinish("resolve")}>Resolve</button>
              <button type="button" class=${finish === "escalate" ? "btn btn-primary" : "btn"} data-testid="walk-escalate"
                aria-pressed=${finish === "escalate" ? "true" : "false"} onClick=${() => setFinish("escalate")}>Escalate</button>
            </div>
            <${Finish} session=${session} kind=${finish} onKind=${setFinish} onDone=${(s) => { setFinish(null); setSession(s); }} />` : null}
          <section class="card" aria-labelledby="path-h">
            <h2 id="path-h">Path so far</h2>
            <${WalkPath} path=${session.walked_path} />
          </section>
        </div>
        <aside class="side" aria-label="Notes">
          <${Notes} session=${session} onSession=${setSession} readOnly=${!active} />
        </aside>
      </div>
    </div>`;
}
