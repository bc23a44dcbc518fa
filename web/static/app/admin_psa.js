/* Admin: the ConnectWise connection (keys are write-only: blank means unchanged; a new site or company needs the
 * keys again), "Test connection" as a job shown live, deactivate; and the status mapping chosen from the board's
 * statuses, which ConnectWise lists through a job (or a short-lived cache). */
import { useEffect, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, patch, post } from "../js/api.js";
import { dataOrJob, jobLine, useJob } from "./jobs.js";
import { describeError, fmtTime, html, showToast, toastError } from "./ui.js";

const KEYS_AGAIN = "The keys belong to one site and company: enter the public and private key again to change either.";

const TEST_ERRORS = {
  psa_auth_failed: "ConnectWise refused the keys (check the public and private key, and the API member's rights)",
  psa_misconfigured: "The connection's settings do not work (site, company id or client id)",
  psa_unavailable: "ConnectWise did not answer (site down or unreachable)",
  psa_rate_limited: "ConnectWise asked us to slow down; try again in a minute",
  psa_not_found: "ConnectWise does not know this site's API path",
  psa_connection_inactive: "The connection is deactivated",
};

function field(id, label, props, hint) {
  return html`
    <div class="field">
      <label for=${id}>${label}</label>
      <input id=${id} ...${props} />
      ${hint ? html`<p class="muted small hint">${hint}</p>` : null}
    </div>`;
}

function ConnectionForm({ conn, onSaved }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => setError(""), [conn && conn.id]);

  const askKeys = (form, message) => {
    setError(message);
    form.elements.public_key.focus();
  };

  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const v = (n) => form.elements[n].value.trim();
    const body = {};
    if (!conn) {
      Object.assign(body, { provider: "connectwise", site_url: v("site_url"), company_id: v("company_id"),
        public_key: v("public_key"), private_key: v("private_key") });
      if (v("client_id")) body.client_id = v("client_id");
      if (!body.site_url || !body.company_id || !body.public_key || !body.private_key) {
        setError("The site, company id and both keys are needed to connect.");
        return;
      }
    } else {
      for (const n of ["site_url", "company_id", "client_id"]) if (v(n) && v(n) !== (conn[n] || "")) body[n] = v(n);
      for (const n of ["public_key", "private_key"]) if (v(n)) body[n] = v(n);
      const moved = "site_url" in body || "company_id" in body;
      if (moved && !(body.public_key && body.private_key)) {
        askKeys(form, KEYS_AGAIN);
        return;
      }
      if (!Object.keys(body).length) {
        setError("Nothing changed.");
        return;
      }
    }
    setBusy(true);
    setError("");
    try {
      const saved = conn ? await patch(`/api/v1/psa-connections/${conn.id}`, body) : await post("/api/v1/psa-connections", body);
      form.elements.public_key.value = "";
      form.elements.private_key.value = "";
      showToast("success", conn ? "Connection updated." : "Connection saved. Test it next.", { title: "ConnectWise" });
      onSaved(saved);
    } catch (err) {
      if (err instanceof ApiError && err.code === "psa_keys_required") askKeys(form, KEYS_AGAIN);
      else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const keyHint = conn ? "Write-only: leave blank to keep the stored key." : "";
  return html`
    <form class="stack connection-form" onSubmit=${submit} onInput=${() => error && setError("")} key=${conn ? `${conn.id}-${conn.updated_at}` : "new"}>
      ${field("psa-site", "Site URL", { name: "site_url", "data-testid": "psa-site-url", defaultValue: conn ? conn.site_url : "",
        placeholder: "https://na.myconnectwise.net", autocomplete: "off", inputmode: "url" })}
      <div class="row">
        ${field("psa-company", "Company id", { name: "company_id", "data-testid": "psa-company-id",
          defaultValue: conn ? conn.company_id : "", autocomplete: "off" })}
        ${field("psa-client", "Client id", { name: "client_id", "data-testid": "psa-client-id",
          defaultValue: conn ? conn.client_id || "" : "", autocomplete: "off" }, "Your ConnectWise developer client id (optional)")}
      </div>
      <div class="row">
        ${field("psa-public", "Public key", { name: "public_key", "data-testid": "psa-public-key", autocomplete: "off",
          placeholder: conn ? "unchanged" : "" }, keyHint)}
        ${field("psa-private", "Private key", { name: "private_key", "data-testid": "psa-private-key", type: "password",
          autocomplete: "new-password", placeholder: conn ? "unchanged" : "" }, keyHint)}
      </div>
      <p class="form-error" role="alert" data-testid="psa-error" hidden=${!error}>${error}</p>
      <div class="row">
        <button type="submit" class="btn btn-primary" data-testid="psa-save" disabled=${busy}>
          ${busy ? "Saving…" : conn ? "Save changes" : "Connect"}</button>
      </div>
    </form>`;
}

function TestConnection({ conn }) {
  const [job, follow, reset] = useJob();
  const [error, setError] = useState("");
  useEffect(() => {
    reset();
    setError("");
  }, [conn.id, conn.updated_at]);
  const run = async () => {
    setError("");
    try {
      await follow((await post(`/api/v1/psa-connections/${conn.id}/test`)).job);
    } catch (err) {
      setError(describeError(err));
    }
  };
  const done = job && job.status === "succeeded";
  const result = done ? job.result || {} : null;
  const running = job && !done && !["failed", "cancelled"].includes(job.status);
  let line = null;
  if (result && result.ok) {
    line = html`<span data-testid="psa-test-result" data-ok="true" class="ok-line"><span aria-hidden="true">✓ </span>
      Connected to ${result.company_name || "the company"}${result.version ? ` (ConnectWise ${result.version})` : ""}.</span>`;
  } else if (result) {
    const e = result.error || {};
    line = html`<span data-testid="psa-test-result" data-ok="false" data-code=${e.code} class="bad-line"><span aria-hidden="true">✗ </span>
      ${TEST_ERRORS[e.code] || "The test failed"}${e.message ? `: ${e.message}` : ""}.</span>`;
  } else if (job && ["failed", "cancelled"].includes(job.status)) {
    line = html`<span data-testid="psa-test-result" data-ok="false" class="bad-line">The test could not run: ${jobLine(job)}.</span>`;
  } else if (job) {
    line = html`<span data-testid="psa-test-result" data-ok="" class="muted"><span class="spinner" aria-hidden="true"></span>
      Testing: ${jobLine(job)}…</span>`;
  }
  return html`
    <div class="row test-row">
      <button type="button" class="btn" data-testid="psa-test" disabled=${running || !conn.is_active} onClick=${run}>
        Test connection</button>
      <p class="test-line" role="status" aria-live="polite">${line}${error ? html`<span class="bad-line">${error}</span>` : null}</p>
    </div>`;
}

function Deactivate({ conn, onSaved }) {
  const [asking, setAsking] = useState(false);
  const flip = async () => {
    try {
      const saved = await patch(`/api/v1/psa-connections/${conn.id}`, { is_active: !conn.is_active });
      showToast("success", saved.is_active ? "Connection active again." : "Connection deactivated: nothing is posted through it.");
      setAsking(false);
      onSaved(saved);
    } catch (err) {
      toastError(err, "Could not change the connection");
    }
  };
  if (!conn.is_active) {
    return html`<button type="button" class="btn" data-testid="psa-activate" onClick=${flip}>Activate again</button>`;
  }
  return asking ? html`
    <span class="confirm-inline">Sessions can no longer post through it.
      <button type="button" class="btn btn-danger btn-sm" data-testid="psa-deactivate-confirm" onClick=${flip}>Deactivate</button>
      <button type="button" class="btn btn-quiet btn-sm" onClick=${() => setAsking(false)}>Keep it</button></span>`
    : html`<button type="button" class="btn btn-quiet" data-testid="psa-deactivate" onClick=${() => setAsking(true)}>Deactivate…</button>`;
}

export function ConnectionSection({ connections, onChange }) {
  const [selected, setSelected] = useState(null);
  const [adding, setAdding] = useState(false);
  const list = connections || [];
  const conn = adding ? null : list.find((c) => c.id === selected) || list.find((c) => c.is_active) || list[0] || null;
  const saved = (c) => {
    setAdding(false);
    setSelected(c.id);
    onChange();
  };
  return html`
    <section class="card admin-section" id="connection" aria-labelledby="conn-h">
      <div class="card-head">
        <h2 id="conn-h">ConnectWise connection</h2>
        ${conn ? html`<span class=${`badge ${conn.is_active ? "badge-resolved" : "badge-paused"}`}>
          <span aria-hidden="true">${conn.is_active ? "✓" : "❚❚"}</span> ${conn.is_active ? "active" : "deactivated"}</span>` : null}
      </div>
      ${list.length > 1 || (list.length && adding) ? html`
        <label class="inline"><span>Connection</span>
          <select value=${adding ? "" : conn && conn.id} onChange=${(e) => { setAdding(!e.currentTarget.value); setSelected(e.currentTarget.value); }}>
            ${list.map((c) => html`<option value=${c.id}>${c.company_id} · ${c.site_url}${c.is_active ? "" : " (deactivated)"}</option>`)}
            <option value="">New connection…</option>
          </select></label>` : null}
      ${connections === null ? html`<p class="muted">Loading…</p>` : html`
        ${conn ? html`<p class="muted small">Saved ${fmtTime(conn.updated_at)}. Keys are never shown again after saving.</p>`
          : html`<p class="muted small">Connect the ConnectWise site your engineers' tickets live on (an API member's keys).</p>`}
        <${ConnectionForm} conn=${conn} onSaved=${saved} />
        ${conn ? html`
          <${TestConnection} conn=${conn} />
          <div class="row">
            <${Deactivate} conn=${conn} onSaved=${saved} />
            ${!adding ? html`<button type="button" class="btn btn-quiet" onClick=${() => setAdding(true)}>Add another connection</button>` : null}
          </div>` : null}`}
    </section>`;
}

// ---- status mapping ---------------------------------------------------------------------------

function useList(url) {
  const [items, setItems] = useState(null);
  const [error, setError] = useState("");
  const [job, follow] = useJob();
  const load = async (refresh) => {
    if (!url) return;
    setError("");
    try {
      const data = await dataOrJob(await get(`${url}${refresh ? "?refresh=true" : ""}`), follow);
      if (data) setItems((data.items || []).filter((i) => !i.inactive));
    } catch (err) {
      setError(err instanceof ApiError ? describeError(err) : `ConnectWise could not list them: ${err.message}`);
    }
  };
  useEffect(() => {
    setItems(null);
    load(false);
  }, [url]);
  return { items, error, job, load };
}

export function StatusMappingSection({ conn, settings, onSaved }) {
  const prefs = (settings && settings.preferences) || {};
  const [board, setBoard] = useState(prefs.cw_board_id ? String(prefs.cw_board_id) : "");
  const [resolvedId, setResolved] = useState(prefs.cw_resolved_status_id ? String(prefs.cw_resolved_status_id) : "");
  const [escalatedId, setEscalated] = useState(prefs.cw_escalated_status_id ? String(prefs.cw_escalated_status_id) : "");
  const [busy, setBusy] = useState(false);
  const base = conn && conn.is_active ? `/api/v1/psa-connections/${conn.id}` : null;
  const boards = useList(base ? `${base}/boards` : null);
  const statuses = useList(base && board ? `${base}/boards/${board}/statuses` : null);

  useEffect(() => {
    if (!board && boards.items && boards.items.length === 1) setBoard(String(boards.items[0].id));
  }, [boards.items]);

  if (!conn) {
    return html`<section class="card admin-section" id="statuses" aria-labelledby="map-h"><h2 id="map-h">Status mapping</h2>
      <p class="muted">Connect ConnectWise first: the statuses come from its service boards.</p></section>`;
  }
  const save = async (ev) => {
    ev.preventDefault();
    if (!resolvedId) {
      showToast("error", "Pick the status that means “resolved”.");
      return;
    }
    setBusy(true);
    try {
      const body = { preferences: { cw_board_id: Number(board), cw_resolved_status_id: Number(resolvedId),
        cw_escalated_status_id: escalatedId ? Number(escalatedId) : null } };
      onSaved(await patch("/api/v1/account-settings", body));
      const name = (id) => ((statuses.items || []).find((s) => String(s.id) === id) || {}).name || id;
      showToast("success", `Resolving moves tickets to “${name(resolvedId)}”${escalatedId ? `, escalating to “${name(escalatedId)}”` : ""}.`,
        { title: "Status mapping saved" });
    } catch (err) {
      toastError(err, "Could not save the mapping");
    } finally {
      setBusy(false);
    }
  };
  const pending = (l) => (l.job && !["succeeded", "failed", "cancelled"].includes(l.job.status)
    ? html`<span class="muted small" role="status"><span class="spinner" aria-hidden="true"></span> asking ConnectWise: ${jobLine(l.job)}…</span>` : null);
  const options = (items, current) => html`
    <option value="">${items ? "— not set —" : "loading…"}</option>
    ${(items || []).map((s) => html`<option value=${String(s.id)} selected=${String(s.id) === current}>
      ${s.name}${s.closed ? " (closes the ticket)" : ""}</option>`)}`;
  return html`
    <section class="card admin-section" id="statuses" aria-labelledby="map-h">
      <div class="card-head">
        <h2 id="map-h">Status mapping</h2>
        <button type="button" class="btn btn-quiet btn-sm" onClick=${() => { boards.load(true); if (board) statuses.load(true); }}>
          Refresh from ConnectWise</button>
      </div>
      <p class="muted small">After posting a note, FlowPilot moves the ticket to these statuses and re-reads it to prove it.</p>
      ${!conn.is_active ? html`<p class="muted">The connection is deactivated.</p>` : html`
      <form class="stack" onSubmit=${save}>
        <div class="field">
          <label for="map-board">Service board</label>
          <select id="map-board" data-testid="status-board" value=${board}
            onChange=${(e) => { setBoard(e.currentTarget.value); setResolved(""); setEscalated(""); }}>
            <option value="">${boards.items ? "— pick a board —" : "loading…"}</option>
            ${(boards.items || []).map((b) => html`<option value=${String(b.id)}>${b.name}</option>`)}
          </select>
          ${pending(boards)}
          ${boards.error ? html`<p class="form-error" role="alert">${boards.error}</p>` : null}
        </div>
        <div class="row">
          <div class="field">
            <label for="map-resolved">“Resolved” status</label>
            <select id="map-resolved" data-testid="status-resolved" value=${resolvedId} disabled=${!board}
              onChange=${(e) => setResolved(e.currentTarget.value)}>${options(statuses.items, resolvedId)}</select>
          </div>
          <div class="field">
            <label for="map-escalated">“Escalated” status <span class="muted">(optional)</span></label>
            <select id="map-escalated" data-testid="status-escalated" value=${escalatedId} disabled=${!board}
              onChange=${(e) => setEscalated(e.currentTarget.value)}>${options(statuses.items, escalatedId)}</select>
          </div>
        </div>
        ${pending(statuses)}
        ${statuses.error ? html`<p class="form-error" role="alert">${statuses.error}</p>` : null}
        <div class="row">
          <button type="submit" class="btn btn-primary" data-testid="status-save" disabled=${busy || !board || !resolvedId}>
            ${busy ? "Saving…" : "Save mapping"}</button>
          ${prefs.cw_resolved_status_id ? html`<span class="muted small">Saved: resolved = #${prefs.cw_resolved_status_id}${
            prefs.cw_escalated_status_id ? `, escalated = #${prefs.cw_escalated_status_id}` : ""}</span>` : null}
        </div>
      </form>`}
    </section>`;
}
