/* Admin: the people of the account (role, add a user, reset a password: a generated password is shown once)
 * and the account's API tokens (list, revoke). */
import { useState } from "../vendor/preact-hooks.mjs";
import { ApiError, auth, del, post } from "../js/api.js";
import { ago, describeError, fmtTime, html, showToast, toastError, useItems } from "./ui.js";

const ROLE_WORDS = { l1: "L1 technician", engineer: "Engineer", admin: "Admin", owner: "Owner" };

/** A password shown this once, with a copy button; it is gone when dismissed or the page is left. */
function OncePassword({ email, password, onDone }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(password);
      setCopied(true);
    } catch (_) {
      const el = document.getElementById("once-password");
      if (el) window.getSelection().selectAllChildren(el);
    }
  };
  return html`
    <div class="once" role="status" aria-live="polite">
      <p><strong>Password for ${email}</strong> — shown this once. Hand it over safely; they can change it under
        “Account” after signing in.</p>
      <p class="row"><code id="once-password" class="once-password" data-testid="user-password-once">${password}</code>
        <button type="button" class="btn btn-sm" onClick=${copy}>${copied ? "Copied" : "Copy"}</button>
        <button type="button" class="btn btn-quiet btn-sm" onClick=${onDone}>Done</button></p>
    </div>`;
}

function UserRow({ u, me, myRole, onIssued }) {
  const [asking, setAsking] = useState(false);
  const mayReset = u.id !== me && (myRole === "owner" || u.role !== "owner");
  const reset = async () => {
    try {
      const res = await post(`/api/v1/users/${u.id}/password`, {});
      setAsking(false);
      onIssued(res.user.email, res.password);
      showToast("success", `New password set for ${u.email}; ${res.sign_ins_ended} sign-in(s) ended.`);
    } catch (err) {
      toastError(err, "Could not reset the password");
    }
  };
  return html`
    <li class="user-row" data-testid="user-row" data-user-id=${u.id} data-role=${u.role}>
      <div class="flow-line">
        <span class="list-title">${u.email}${u.id === me ? html` <span class="muted small">(you)</span>` : null}</span>
        <span class="list-meta"><span class="chip">${ROLE_WORDS[u.role] || u.role}</span>
          ${u.is_active ? null : html`<span class="chip">inactive</span>`}
          <span class="muted">${u.can_sign_in ? "signs in with a password" : "API tokens only"} · added ${ago(u.created_at)}</span></span>
      </div>
      ${mayReset ? (asking ? html`
        <span class="confirm-inline">Their sign-ins end now.
          <button type="button" class="btn btn-danger btn-sm" data-testid="user-reset-confirm" onClick=${reset}>Set a new password</button>
          <button type="button" class="btn btn-quiet btn-sm" onClick=${() => setAsking(false)}>Cancel</button></span>`
        : html`<button type="button" class="btn btn-sm" data-testid="user-reset" onClick=${() => setAsking(true)}>Reset password…</button>`)
        : null}
    </li>`;
}

export function PeopleSection({ me }) {
  const [users, load] = useItems("/api/v1/users?limit=200", "the people");
  const [issued, setIssued] = useState(null); // {email, password} shown once
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  const create = async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    const body = { email: f.elements.email.value.trim(), role: f.elements.role.value };
    if (f.elements.password.value) body.password = f.elements.password.value;
    setBusy(true);
    setError("");
    try {
      const res = await post("/api/v1/users", body);
      f.reset();
      if (res.password) setIssued({ email: res.user.email, password: res.password });
      showToast("success", `${res.user.email} can sign in now as ${ROLE_WORDS[res.user.role].toLowerCase()}.`, { title: "User added" });
      await load();
    } catch (err) {
      setError(err instanceof ApiError && err.code === "email_taken" ? "Someone already signs in with this email." : describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <section class="card admin-section" id="people" aria-labelledby="people-h">
      <h2 id="people-h">People <span class="count">${users ? users.length : "…"}</span></h2>
      ${issued ? html`<${OncePassword} ...${issued} onDone=${() => setIssued(null)} />` : null}
      <ul class="plain-list">
        ${(users || []).map((u) => html`<${UserRow} key=${u.id} u=${u} me=${me.id} myRole=${me.role}
          onIssued=${(email, password) => setIssued({ email, password })} />`)}
      </ul>
      <form class="stack add-user" onSubmit=${create} aria-labelledby="add-user-h">
        <h3 id="add-user-h">Add someone</h3>
        <div class="row">
          <div class="field"><label for="nu-email">Email</label>
            <input id="nu-email" name="email" type="email" required autocomplete="off" data-testid="user-create-email" /></div>
          <div class="field"><label for="nu-role">Role</label>
            <select id="nu-role" name="role" data-testid="user-create-role">
              <option value="l1">L1 technician</option><option value="engineer">Engineer</option>
              <option value="admin">Admin</option>${me.role === "owner" ? html`<option value="owner">Owner</option>` : null}
            </select></div>
          <div class="field"><label for="nu-password">Password <span class="muted">(optional)</span></label>
            <input id="nu-password" name="password" type="password" autocomplete="new-password" minlength="10"
              data-testid="user-create-password" placeholder="blank: generate one" /></div>
        </div>
        <p class="form-error" role="alert" hidden=${!error}>${error}</p>
        <div class="row"><button type="submit" class="btn btn-primary" data-testid="user-create-submit" disabled=${busy}>
          ${busy ? "Adding…" : "Add user"}</button></div>
      </form>
    </section>`;
}

export function TokensSection() {
  const [items, load] = useItems("/api/v1/tokens?limit=200", "the tokens");
  const [asking, setAsking] = useState(null);
  const current = auth.token();
  const revoke = async (t) => {
    try {
      await del(`/api/v1/tokens/${t.id}`);
      setAsking(null);
      showToast("success", `Token ${t.prefix}… of ${t.user_email} revoked: it stops working at once.`);
      await load();
    } catch (err) {
      toastError(err, "Could not revoke the token");
    }
  };
  return html`
    <section class="card admin-section" id="tokens" aria-labelledby="tokens-h">
      <h2 id="tokens-h">API tokens and sign-ins <span class="count">${items ? items.length : "…"}</span></h2>
      <p class="muted small">Live tokens of the account: scripts' API tokens and people's sign-ins. Revoking one stops it
        at once, everywhere.</p>
      <ul class="plain-list">
        ${(items || []).map((t) => html`
          <li key=${t.id} class="token-row" data-testid="token-row" data-token-id=${t.id} data-kind=${t.kind}>
            <div class="flow-line">
              <span class="list-title"><code>${t.prefix}…</code> ${t.user_email}
                ${t.current ? html` <span class="chip">this sign-in</span>` : null}</span>
              <span class="list-meta"><span class="chip">${t.kind === "login" ? "sign-in" : "API token"}</span>
                <span class="muted">created ${ago(t.created_at)} · last used ${t.last_used_at ? ago(t.last_used_at) : "never"}
                  ${t.expires_at ? ` · expires ${fmtTime(t.expires_at)}` : ""}</span></span>
            </div>
            ${t.current || !current ? null : asking === t.id ? html`
              <span class="confirm-inline">
                <button type="button" class="btn btn-danger btn-sm" data-testid="token-revoke-confirm" onClick=${() => revoke(t)}>Revoke</button>
                <button type="button" class="btn btn-quiet btn-sm" onClick=${() => setAsking(null)}>Keep</button></span>`
              : html`<button type="button" class="btn btn-sm" data-testid="token-revoke" onClick=${() => setAsking(t.id)}>Revoke…</button>`}
          </li>`)}
      </ul>
    </section>`;
}
