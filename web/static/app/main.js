/* FlowPilot pages: the shell (top bar, toast), sign-in, and the client-side routes under /app.
 *
 * A page without a valid token shows the sign-in form in place, keeping the URL: after signing in the
 * same route renders, so a deep link (or a session that expired mid-work) comes back where it was.
 */
import { render } from "../vendor/preact.mjs";
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, auth, onSignedOut, signIn, signOut, whoAmI } from "../js/api.js";
import { SessionPage } from "./session.js";
import { SessionsPage } from "./sessions.js";
import { Link, ToastHost, describeError, dismissToast, html, navigate, useLocation } from "./ui.js";

const ENGINEER_UP = ["engineer", "admin", "owner"];

function homeFor(user) {
  if (!user) return "/app";
  if (user.is_operator) return "/ops";
  return ENGINEER_UP.includes(user.role) ? "/app/sessions" : "/app/l1";
}

function SignIn({ message, onSignedIn }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const emailRef = useRef(null);
  useEffect(() => {
    if (emailRef.current) emailRef.current.focus();
  }, []);

  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email || !password) {
      setError("Enter your email and password.");
      return;
    }
    setBusy(true);
    setError("");
    try {
      const user = await signIn(email, password);
      form.elements.password.value = "";
      dismissToast();
      onSignedIn(user);
    } catch (err) {
      if (err instanceof ApiError && err.code === "invalid_credentials") setError("Wrong email or password.");
      else if (err instanceof ApiError && err.code === "too_many_attempts") {
        const wait = err.retryAfterS ? ` Try again in ${Math.ceil(err.retryAfterS / 60)} min.` : "";
        setError(`Too many failed attempts.${wait}`);
      } else setError(describeError(err));
      setBusy(false);
    }
  };

  return html`
    <main class="signin" id="main">
      <h1>Sign in to FlowPilot</h1>
      ${message ? html`<p class="notice" role="status">${message}</p>` : null}
      <form onSubmit=${submit} novalidate>
        <label for="login-email">Email</label>
        <input id="login-email" name="email" type="email" autocomplete="username" required
          data-testid="login-email" ref=${emailRef} />
        <label for="login-password">Password</label>
        <input id="login-password" name="password" type="password" autocomplete="current-password" required
          data-testid="login-password" />
        <p class="form-error" role="alert" data-testid="login-error" hidden=${!error}>${error}</p>
        <button type="submit" class="btn btn-primary" data-testid="login-submit" disabled=${busy}>
          ${busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>`;
}

function TopBar({ user }) {
  const out = async () => {
    await signOut();
    navigate("/app", { replace: true });
  };
  return html`
    <header class="topbar">
      <a class="skip" href="#main">Skip to content</a>
      <${Link} href="/app" class="brand">FlowPilot</${Link}>
      ${user && ENGINEER_UP.includes(user.role) ? html`<nav aria-label="Main">
        <${Link} href="/app/sessions">Sessions</${Link}>
      </nav>` : null}
      <div class="topbar-user">
        <span class="who" data-testid="nav-user" title=${user ? user.role : ""}>${user ? user.email : ""}</span>
        <button type="button" class="btn btn-quiet btn-sm" data-testid="logout" onClick=${out}>Sign out</button>
      </div>
    </header>`;
}

export function NotFound({ what = "page" }) {
  return html`
    <section class="empty-state" data-testid="not-found">
      <h1 tabindex="-1">Not found</h1>
      <p>This ${what} does not exist, or it belongs to another account.</p>
      <p><${Link} href="/app">Back to the start</${Link}></p>
    </section>`;
}

function NotYet({ title }) {
  return html`
    <section class="empty-state">
      <h1 tabindex="-1">${title}</h1>
      <p>This workspace is not in the browser yet; its API is ready (see the README).</p>
    </section>`;
}

function Route({ path, user }) {
  const clean = path.split("?")[0].replace(/\/+$/, "");
  const m = clean.match(/^\/app\/sessions\/([^/]+)$/);
  const engineer = ENGINEER_UP.includes(user.role);
  if (clean === "/app" || clean === "") return null; // redirected by App
  if (clean === "/app/sessions" && engineer) return html`<${SessionsPage} />`;
  if (m && engineer) return html`<${SessionPage} key=${m[1]} id=${decodeURIComponent(m[1])} />`;
  if (/^\/app\/(l1|escalations|admin)(\/|$)/.test(clean)) return html`<${NotYet} title="Coming to the browser" />`;
  return html`<${NotFound} />`;
}

function App() {
  const path = useLocation();
  const [user, setUser] = useState(auth.token() ? auth.user() : null);
  const [checked, setChecked] = useState(false);
  const [message, setMessage] = useState("");

  useEffect(() => onSignedOut(() => {
    setUser(null);
    setMessage("Your sign-in has ended. Sign in again to continue where you were.");
  }), []);

  // A stored token is checked once with the server (it may have expired while the tab slept).
  useEffect(() => {
    if (!auth.token()) {
      setChecked(true);
      return;
    }
    whoAmI().then((u) => setUser(u), () => setUser(null)).finally(() => setChecked(true));
  }, []);

  useEffect(() => {
    const clean = path.split("?")[0].replace(/\/+$/, "");
    if (!user) return;
    if (user.is_operator) {
      window.location.assign("/ops");
      return;
    }
    if (clean === "/app" || clean === "") navigate(homeFor(user), { replace: true });
  }, [user, path]);

  useEffect(() => {
    const heading = document.querySelector("main h1");
    if (heading) heading.setAttribute("tabindex", "-1");
  }, [path, user]);

  if (!checked) return html`<p class="boot">Loading FlowPilot…</p><${ToastHost} />`;
  if (!auth.token() || !user) {
    return html`<${SignIn} message=${message} onSignedIn=${setUser} /><${ToastHost} />`;
  }
  return html`
    <${TopBar} user=${user} />
    <main id="main" class="page"><${Route} path=${path} user=${user} /></main>
    <${ToastHost} />`;
}

render(html`<${App} />`, document.getElementById("root"));
