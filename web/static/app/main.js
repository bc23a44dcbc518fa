/* FlowPilot pages: the shell (top bar, toast), sign-in, and the client-side routes under /app.
 *
 * A page without a valid token shows the sign-in form in place, keeping the URL: after signing in the
 * same route renders, so a deep link (or a session that expired mid-work) comes back where it was.
 */
import { render } from "../vendor/preact.mjs";
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, auth, onSignedOut, signIn, signOut, whoAmI } from "../js/api.js";
import { AccountPage } from "./account.js";
import { AdminPage } from "./admin.js";
import { BatchesPage } from "./admin_batches.js";
import { EscalationsPage } from "./escalations.js";
import { L1Page } from "./l1.js";
import { SessionPage } from "./session.js";
import { SessionsPage } from "./sessions.js";
import { WalkPage } from "./walk.js";
import { Link, ToastHost, describeError, dismissToast, html, navigate, useLocation } from "./ui.js";

const ENGINEER_UP = ["engineer", "admin", "owner"];
const ADMIN_UP = ["admin", "owner"];
const NAV = [
  ["/app/sessions", "Sessions", ENGINEER_UP],
  ["/app/l1", "L1", ["l1", ...ENGINEER_UP]],
  ["/app/escalations", "Escalations", ENGINEER_UP],
  ["/app/admin", "Admin", ADMIN_UP],
];

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

function TopBar({ user, path }) {
  const out = async () => {
    await signOut();
    navigate("/app", { replace: true });
  };
  const links = NAV.filter(([, , roles]) => user && roles.includes(user.role));
  return html`
    <header class="topbar">
      <a class="skip" href="#main">Skip to content</a>
      <${Link} href="/app" class="brand">FlowPilot</${Link}>
      ${links.length ? html`<nav aria-label="Main">
        ${links.map(([href, words]) => html`<${Link} href=${href}
          aria-current=${path === href || path.startsWith(`${href}/`) ? "page" : undefined}>${words}</${Link}>`)}
      </nav>` : null}
      <div class="topbar-user">
        <${Link} href="/app/account" class="who" title=${user ? `${user.role}: your account` : ""}>
          <span data-testid="nav-user">${user ? user.email : ""}</span></${Link}>
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

function NotForYou({ what }) {
  return html`
    <section class="empty-state" data-testid="not-allowed">
      <h1 tabindex="-1">Not for your role</h1>
      <p>${what} is for other roles in your account. Ask an admin if you need it.</p>
      <p><${Link} href="/app">Back to the start</${Link}></p>
    </section>`;
}

const PAGES = [
  [/^\/app\/sessions$/, ENGINEER_UP, "The sessions list", () => html`<${SessionsPage} />`],
  [/^\/app\/sessions\/([^/]+)$/, ENGINEER_UP, "A session", (m) => html`<${SessionPage} key=${m[1]} id=${decodeURIComponent(m[1])} />`],
  [/^\/app\/l1$/, ["l1", ...ENGINEER_UP], "The L1 workspace", () => html`<${L1Page} />`],
  [/^\/app\/l1\/sessions\/([^/]+)$/, ["l1", ...ENGINEER_UP], "A walk", (m) => html`<${WalkPage} key=${m[1]} id=${decodeURIComponent(m[1])} />`],
  [/^\/app\/escalations$/, ENGINEER_UP, "The escalations queue", () => html`<${EscalationsPage} />`],
  [/^\/app\/admin$/, ADMIN_UP, "Account setup", (m, user) => html`<${AdminPage} user=${user} />`],
  [/^\/app\/admin\/batches$/, ADMIN_UP, "Batches", () => html`<${BatchesPage} />`],
  [/^\/app\/account$/, ["l1", ...ENGINEER_UP], "Your account", (m, user) => html`<${AccountPage} user=${user} />`],
];

function Route({ path, user }) {
  const clean = path.split("?")[0].replace(/\/+$/, "");
  if (clean === "/app" || clean === "") return null; // redirected by App
  for (const [pattern, roles, what, page] of PAGES) {
    const m = clean.match(pattern);
    if (m) return roles.includes(user.role) ? page(m, user) : html`<${NotForYou} what=${what} />`;
  }
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
    <${TopBar} user=${user} path=${path.split("?")[0].replace(/\/+$/, "")} />
    <main id="main" class="page"><${Route} path=${path} user=${user} /></main>
    <${ToastHost} />`;
}

render(html`<${App} />`, document.getElementById("root"));
