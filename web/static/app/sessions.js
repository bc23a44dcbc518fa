/* Sessions: the list (status filter, latest activity first, cursor paging) and "new session". */
import { useEffect, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, post } from "../js/api.js";
import { Link, StatusBadge, SESSION_STATUS_WORDS, ago, describeError, html, navigate, problemOf, showToast } from "./ui.js";

const PAGE = 25;

function NewSession() {
  const [connections, setConnections] = useState(null); // null: loading or not allowed
  const [connection, setConnection] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    get("/api/v1/psa-connections").then(
      (data) => setConnections((data.items || []).filter((c) => c.is_active)),
      () => setConnections([]),
    );
  }, []);

  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const problem = form.elements.problem.value.trim();
    const ticket = (form.elements.ticket ? form.elements.ticket.value : "").trim();
    if (!problem) {
      setError("Describe the problem first.");
      return;
    }
    if (ticket && !connection) {
      setError("Pick the PSA connection the ticket belongs to.");
      return;
    }
    if (ticket && !/^[0-9]+$/.test(ticket)) {
      setError("A ticket number has digits only.");
      return;
    }
    const body = { intake_type: "free_text", intake_content: { problem } };
    if (connection) body.psa_connection_id = connection;
    if (ticket) body.psa_ticket_id = ticket;
    setBusy(true);
    setError("");
    try {
      const session = await post("/api/v1/ai-sessions", body);
      showToast("success", ticket ? `Session started, linked to ticket #${ticket}.` : "Session started.");
      navigate(`/app/sessions/${session.id}`);
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  const hasConnections = connections && connections.length > 0;
  return html`
    <section class="card new-session" aria-labelledby="new-session-h">
      <h2 id="new-session-h">New session</h2>
      <form onSubmit=${submit}>
        <label for="ns-problem">What is the problem?</label>
        <textarea id="ns-problem" name="problem" rows="3" required data-testid="new-session-problem"
          placeholder="e.g. Outlook keeps asking for a password"></textarea>
        <div class="row">
          <div class="field">
            <label for="ns-connection">PSA connection <span class="muted">(optional)</span></label>
            <select id="ns-connection" data-testid="new-session-connection" value=${connection}
              onChange=${(e) => setConnection(e.currentTarget.value)} disabled=${!hasConnections}>
              <option value="">${hasConnections ? "No PSA ticket" : "No PSA connection set up"}</option>
              ${(connections || []).map((c) => html`<option value=${c.id}>${c.company_id} · ${c.site_url}</option>`)}
            </select>
          </div>
          <div class="field">
            <label for="ns-ticket">Ticket number <span class="muted">(optional)</span></label>
            <input id="ns-ticket" name="ticket" inputmode="numeric" pattern="[0-9]*" data-testid="new-session-ticket"
              disabled=${!connection} placeholder=${connection ? "e.g. 48291" : "pick a connection first"} />
          </div>
        </div>
        <p class="form-error" role="alert" hidden=${!error}>${error}</p>
        <button type="submit" class="btn btn-primary" data-testid="new-session-submit" disabled=${busy}>
          ${busy ? "Starting…" : "Start session"}
        </button>
      </form>
    </section>`;
}

function SessionRow({ s }) {
  return html`
    <li class="session-row" data-testid="session-row" data-session-id=${s.id} data-status=${s.status}>
      <${Link} href=${`/app/sessions/${s.id}`} class="session-link">
        <span class="session-problem">${problemOf(s)}</span>
        <span class="session-meta">
          <${StatusBadge} status=${s.status} />
          ${s.psa_ticket_id ? html`<span>Ticket #${s.psa_ticket_id}</span>` : html`<span class="muted">No ticket</span>`}
          <span class="muted" title=${s.updated_at}>updated ${ago(s.updated_at)}</span>
        </span>
      </${Link}>
    </li>`;
}

export function SessionsPage() {
  const [status, setStatus] = useState(new URLSearchParams(location.search).get("status") || "");
  const [items, setItems] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [state, setState] = useState("loading"); // loading | ready | error
  const [error, setError] = useState("");

  const load = async (more) => {
    const q = new URLSearchParams({ limit: String(PAGE), sort: "activity" });
    if (status) q.set("status", status);
    if (more && cursor) q.set("cursor", cursor);
    setState("loading");
    try {
      const data = await get(`/api/v1/ai-sessions?${q}`);
      setItems(more ? [...items, ...data.items] : data.items);
      setCursor(data.next_cursor);
      setState("ready");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      setError(describeError(err));
      setState("error");
    }
  };

  useEffect(() => {
    load(false);
  }, [status]);

  const onFilter = (ev) => {
    const value = ev.currentTarget.value;
    setStatus(value);
    history.replaceState(null, "", value ? `/app/sessions?status=${encodeURIComponent(value)}` : "/app/sessions");
  };

  return html`
    <div class="sessions-page">
      <h1 tabindex="-1">Sessions</h1>
      <div class="sessions-grid">
        <${NewSession} />
        <section class="card" aria-labelledby="list-h">
          <div class="card-head">
            <h2 id="list-h">Your team's sessions</h2>
            <label class="inline">
              <span>Status</span>
              <select data-testid="status-filter" value=${status} onChange=${onFilter}>
                <option value="">All</option>
                ${Object.entries(SESSION_STATUS_WORDS).map(([v, w]) => html`<option value=${v}>${w}</option>`)}
              </select>
            </label>
          </div>
          ${state === "error" ? html`<p class="form-error" role="alert">${error}
            <button type="button" class="btn btn-sm" onClick=${() => load(false)}>Try again</button></p>` : null}
          ${state !== "loading" && items.length === 0 && state !== "error"
            ? html`<p class="muted empty">No ${status ? `${SESSION_STATUS_WORDS[status].toLowerCase()} ` : ""}sessions yet.</p>`
            : null}
          <ul class="session-list" aria-busy=${state === "loading"}>
            ${items.map((s) => html`<${SessionRow} key=${s.id} s=${s} />`)}
          </ul>
          ${state === "loading" ? html`<p class="muted">Loading…</p>` : null}
          ${cursor && state === "ready"
            ? html`<button type="button" class="btn" onClick=${() => load(true)}>Show more</button>` : null}
        </section>
      </div>
    </div>`;
}
