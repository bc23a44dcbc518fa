/* The signed-in person's own account (/app/account): who they are, and changing their password (the current one
 * is asked; their other sign-ins end, this one stays). */
import { useState } from "../vendor/preact-hooks.mjs";
import { ApiError, post } from "../js/api.js";
import { describeError, html, showToast } from "./ui.js";

export function AccountPage({ user }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget; // gone from the event once we await
    const f = form.elements;
    if (f.next.value !== f.again.value) {
      setError("The two new passwords differ.");
      f.again.focus();
      return;
    }
    setBusy(true);
    setError("");
    try {
      await post("/api/v1/me/password", { current_password: f.current.value, new_password: f.next.value });
      form.reset();
      showToast("success", "Password changed. Your other sign-ins have ended; this one continues.");
    } catch (err) {
      setError(err instanceof ApiError && err.code === "wrong_password" ? "The current password is wrong." : describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <div class="account-page">
      <h1 tabindex="-1">Your account</h1>
      <section class="card narrow" aria-labelledby="me-h">
        <h2 id="me-h">${user.email}</h2>
        <p class="muted">Role: ${user.role}</p>
        <form class="stack" onSubmit=${submit} aria-labelledby="pw-h">
          <h3 id="pw-h">Change your password</h3>
          <label for="pw-current">Current password</label>
          <input id="pw-current" name="current" type="password" autocomplete="current-password" required data-testid="password-current" />
          <label for="pw-next">New password <span class="muted small">(at least 10 characters)</span></label>
          <input id="pw-next" name="next" type="password" autocomplete="new-password" minlength="10" required data-testid="password-new" />
          <label for="pw-again">New password again</label>
          <input id="pw-again" name="again" type="password" autocomplete="new-password" minlength="10" required data-testid="password-again" />
          <p class="form-error" role="alert" hidden=${!error}>${error}</p>
          <div class="row"><button type="submit" class="btn btn-primary" data-testid="password-submit" disabled=${busy}>
            ${busy ? "Changing…" : "Change password"}</button></div>
        </form>
      </section>
    </div>`;
}
