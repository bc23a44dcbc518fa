/* Escalated walks, newest first (/app/escalations): the problem, path, notes and reason of each; "Take" starts an
 * assistant session from the walk (intake `l1_escalation`) and opens it; a taken walk says who took it. */
import { useEffect, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, post } from "../js/api.js";
import { Link, ago, describeError, fmtTime, html, navigate, showToast, toastError } from "./ui.js";
import { WalkSummary } from "./walk_parts.js";

const PAGE = 20;

function Row({ item }) {
  const [busy, setBusy] = useState(false);
  const ticket = item.ticket || {};
  const take = async () => {
    setBusy(true);
    try {
      const session = await post("/api/v1/ai-sessions", { intake_type: "l1_escalation", l1_session_id: item.id });
      showToast("success", "Session started from the walk: the assistant has its path and notes.", { title: "Taken" });
      navigate(`/app/sessions/${session.id}`);
    } catch (err) {
      if (err instanceof ApiError && err.code === "l1_session_taken" && err.body.session_id) {
        showToast("info", "Someone took this walk a moment ago: opening their session.");
        navigate(`/app/sessions/${err.body.session_id}`);
      } else {
        toastError(err, "Could not take the walk");
        setBusy(false);
      }
    }
  };
  const headingId = `esc-${item.id}`;
  return html`
    <li class="card escalation-row" data-testid="escalation-row" data-l1-session-id=${item.id}
      data-taken=${item.taken_by_session_id ? "true" : "false"} aria-labelledby=${headingId}>
      <div class="card-head">
        <h2 id=${headingId} class="list-title">${ticket.problem_statement || item.flow_title || "Escalated walk"}</h2>
        <span class="muted small" title=${fmtTime(item.escalated_at)}>escalated ${ago(item.escalated_at)}</span>
      </div>
      <${WalkSummary} walk=${item}
        customer=${[ticket.customer_name, ticket.customer_contact].filter(Boolean).join(" · ")} />
      <div class="row take-row">
        ${item.taken_by_session_id ? html`
          <p class="taken"><span aria-hidden="true">✓ </span>Taken by ${item.taken_by_email || "an engineer"}
            ${item.taken_at ? ` ${ago(item.taken_at)}` : ""} ·
            <${Link} href=${`/app/sessions/${item.taken_by_session_id}`} data-testid="escalation-taken-link">open the session</${Link}></p>`
          : html`<button type="button" class="btn btn-primary" data-testid="escalation-take" disabled=${busy}
              onClick=${take}>${busy ? "Taking…" : "Take"}</button>`}
      </div>
    </li>`;
}

export function EscalationsPage() {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState("");

  const load = async (more) => {
    try {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (more && cursor) q.set("cursor", cursor);
      const data = await get(`/api/v1/l1/escalations?${q}`);
      setItems(more ? [...items, ...data.items] : data.items);
      setCursor(data.next_cursor);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) setError(describeError(err));
    }
  };
  useEffect(() => {
    load(false);
  }, []);

  return html`
    <div class="escalations-page">
      <h1 tabindex="-1">Escalations from L1</h1>
      <p class="muted">Walks L1 could not finish, newest first. Take one to start an assistant session that carries the
        walk's path, notes and reason.</p>
      ${error ? html`<p class="form-error" role="alert">${error}</p>` : null}
      ${items === null && !error ? html`<p class="muted" role="status">Loading…</p>` : null}
      ${items && !items.length ? html`<p class="empty-state">Nothing escalated. L1 has it under control.</p>` : null}
      <ul class="plain-list escalation-list">
        ${(items || []).map((i) => html`<${Row} key=${i.id} item=${i} />`)}
      </ul>
      ${cursor ? html`<button type="button" class="btn" onClick=${() => load(true)}>Show more</button>` : null}
    </div>`;
}
