/* One session: status, conversation, facts, the active fix with its outcome banner, resolve / escalate. */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, post } from "../js/api.js";
import { ConversationPanel } from "./conversation.js";
import { FactsPanel } from "./facts.js";
import { FixCard, OutcomeBanner, bannerMode } from "./fix.js";
import { PostedSummary, ResolveEscalate, WRITEBACK_KINDS } from "./preview.js";
import { WalkSummary } from "./walk_parts.js";
import { Link, SESSION_STATUS_WORDS, StatusBadge, describeError, fmtTime, html, problemOf, showToast, toastError } from "./ui.js";

const CLOSED = ["resolved", "escalated"];
const NUDGE_AFTER_MS = 10 * 60 * 1000; // a verdict still missing after this long in one visit: nudge

const STATUS_ACTIONS = [
  ["pause", "Pause", ["active"], "session-pause"],
  ["resume", "Resume", ["paused"], "session-resume"],
  ["request-escalation", "Request escalation", ["active", "paused"], "session-request-escalation"],
];

function NotFoundSession() {
  return html`
    <section class="empty-state" data-testid="not-found">
      <h1 tabindex="-1">Session not found</h1>
      <p>There is no such session in your account. It may have been mistyped, or it belongs to someone else's account.</p>
      <p><${Link} href="/app/sessions">Back to your sessions</${Link}></p>
    </section>`;
}

function StatusBar({ session, onSession, onStale }) {
  const [busy, setBusy] = useState("");
  const act = async (action, label) => {
    setBusy(action);
    try {
      const updated = await post(`/api/v1/ai-sessions/${encodeURIComponent(session.id)}/${action}`);
      onSession(updated);
      showToast("success", `Session ${SESSION_STATUS_WORDS[updated.status].toLowerCase()}.`);
    } catch (err) {
      if (err instanceof ApiError && err.code === "session_state_conflict") {
        // Someone (another tab, a post) moved the session meanwhile: show where it is now.
        const fresh = await onStale();
        const now = fresh ? SESSION_STATUS_WORDS[fresh.status] || fresh.status : "changed";
        showToast("info", `${label} is not possible now: the session is ${now.toLowerCase()}.`);
      } else {
        toastError(err, `Could not ${label.toLowerCase()}`);
      }
    } finally {
      setBusy("");
    }
  };
  const actions = STATUS_ACTIONS.filter(([, , from]) => from.includes(session.status));
  return html`
    <div class="status-bar" role="group" aria-label="Session status">
      <span class="label">Status</span>
      <${StatusBadge} status=${session.status} testid="session-status" />
      <span class="sr-only" role="status" aria-live="polite">Session ${SESSION_STATUS_WORDS[session.status] || session.status}</span>
      ${actions.map(([action, label, , testid]) => html`
        <button type="button" class="btn btn-sm" data-testid=${testid} disabled=${!!busy}
          onClick=${() => act(action, label)}>${busy === action ? "…" : label}</button>`)}
      ${session.status === "requesting_escalation" ? html`<span class="muted small">Escalation requested: the
        session waits for a senior engineer. Resolving stays possible if it gets fixed meanwhile.</span>` : null}
    </div>`;
}

/** A session taken from an escalated L1 walk carries the walk: what L1 asked, answered, noted and why it escalated. */
function FromL1({ session }) {
  const c = session.intake_content || {};
  if (!c.l1_walk) return null;
  return html`
    <details class="card from-l1" data-testid="session-l1-walk" open>
      <summary><h2 class="inline-h">Escalated by L1</h2>
        ${c.customer_name ? html` <span class="muted small">· ${c.customer_name}${c.customer_contact ? ` (${c.customer_contact})` : ""}</span>` : null}
      </summary>
      <${WalkSummary} walk=${c.l1_walk} headingLevel="h3" />
    </details>`;
}

export function SessionPage({ id }) {
  const [state, setState] = useState({ phase: "loading" }); // loading | ready | missing | error
  const [session, setSession] = useState(null);
  const [facts, setFacts] = useState([]);
  const [fix, setFix] = useState(null);
  const [writebackJob, setWritebackJob] = useState(null);
  const [nudge, setNudge] = useState(false);
  const sessionRef = useRef(null);
  const api = `/api/v1/ai-sessions/${encodeURIComponent(id)}`;

  const loadSession = async () => {
    const s = await get(api);
    sessionRef.current = s;
    setSession(s);
    return s;
  };
  const loadFacts = async () => setFacts((await get(`${api}/facts`)).items);
  const loadFix = async () => {
    try {
      const f = await get(`${api}/suggested-fixes/active`);
      setFix(f);
      return f;
    } catch (err) {
      if (err instanceof ApiError && err.code === "no_active_fix") {
        setFix(null);
        return null;
      }
      throw err;
    }
  };

  useEffect(() => {
    (async () => {
      try {
        await loadSession();
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) setState({ phase: "missing" });
        else if (!(err instanceof ApiError && err.status === 401)) setState({ phase: "error", error: describeError(err) });
        return;
      }
      try {
        const [, f, jobs] = await Promise.all([loadFacts(), loadFix(), get(`${api}/jobs?kind=${WRITEBACK_KINDS}&limit=1`)]);
        setWritebackJob((jobs.items || [])[0] || null);
        // A fix acted on before this visit and still without a verdict: nudge rather than ask afresh.
        setNudge(bannerMode(f, false) === "verifying");
        setState({ phase: "ready" });
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) setState({ phase: "error", error: describeError(err) });
      }
    })();
  }, [id]);

  // Asked in this visit and still unanswered after a while: the same nudge.
  useEffect(() => {
    if (nudge || bannerMode(fix, false) !== "verifying") return undefined;
    const timer = setTimeout(() => setNudge(true), NUDGE_AFTER_MS);
    return () => clearTimeout(timer);
  }, [fix && fix.id, fix && fix.user_decision, fix && fix.status, nudge]);

  if (state.phase === "missing") return html`<${NotFoundSession} />`;
  if (state.phase === "error") {
    return html`<section class="empty-state"><h1 tabindex="-1">Cannot load this session</h1>
      <p class="form-error" role="alert">${state.error}</p></section>`;
  }
  if (state.phase === "loading" || !session) return html`<p class="muted" role="status">Loading the session…</p>`;

  const closed = CLOSED.includes(session.status);
  const refreshSession = async () => loadSession().catch(() => sessionRef.current);
  const onFixChange = async ({ decided } = {}) => {
    await Promise.all([loadFix(), refreshSession()]);
    if (decided) setNudge(false);
  };
  const onReply = async () => {
    await Promise.all([loadFacts(), loadFix(), refreshSession()]);
  };

  return html`
    <div class="session-page">
      <header class="session-head">
        <p class="crumbs"><${Link} href="/app/sessions">Sessions</${Link}> / this session</p>
        <h1 tabindex="-1">${problemOf(session)}</h1>
        <p class="muted small">
          Started ${fmtTime(session.created_at)} ·
          ${session.psa_ticket_id ? ` ConnectWise ticket #${session.psa_ticket_id}` : " no PSA ticket (resolves locally)"}
        </p>
        <${StatusBar} session=${session} onSession=${(s) => { sessionRef.current = s; setSession(s); }}
          onStale=${refreshSession} />
      </header>
      <div class="session-grid">
        <div class="lane">
          <${PostedSummary} session=${session} />
          <${FromL1} session=${session} />
          <${ConversationPanel} sessionId=${session.id} closed=${session.status === "resolved"} onReply=${onReply} />
          ${fix ? html`<${OutcomeBanner} sessionId=${session.id} fix=${fix} nudge=${nudge} closed=${closed}
            onRecorded=${async (f) => { setFix(f); setNudge(false); await refreshSession(); }} />`
            : html`<div data-testid="outcome-banner" data-mode="none" hidden></div>`}
          <${ResolveEscalate} session=${session} writebackJob=${writebackJob} onSessionChange=${refreshSession} />
        </div>
        <aside class="side" aria-label="Facts and suggested fix">
          ${fix ? html`<${FixCard} sessionId=${session.id} fix=${fix} closed=${closed} onChange=${onFixChange} />`
            : html`<section class="card"><h2>Suggested fix</h2><p class="muted">No fix suggested yet.</p></section>`}
          <${FactsPanel} sessionId=${session.id} facts=${facts} closed=${closed} onChange=${async () => { await loadFacts(); await refreshSession(); }} />
        </aside>
      </div>
    </div>`;
}
