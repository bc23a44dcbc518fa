/* FlowPilot API client: the one module every page uses to talk to /api/v1 (the ops console included).
 *
 * - The bearer token lives in this tab's sessionStorage only: never in a URL, a cookie or persistent storage.
 * - Errors arrive as RFC 9457 problem+json; they are thrown as ApiError with the stable `code`.
 * - A 401 forgets the token and tells every `onSignedOut` listener, so a page can ask the person to sign in.
 * - `watchJob` is the only job-watching loop: ETag + `?wait=` long-poll, backing off on 429 / 5xx / network
 *   errors (honouring Retry-After). If the server changes how long-polls are served, only this file changes.
 */

const TOKEN_KEY = "flowpilot.token";
const USER_KEY = "flowpilot.user";
export const TERMINAL = Object.freeze(["succeeded", "failed", "cancelled"]);
const WAIT_S = 25; // the server holds a poll at most 30 s
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const MIN_UNCHANGED_MS = 1000;

export class ApiError extends Error {
  constructor(status, body, retryAfterS) {
    const problem = body && typeof body === "object" ? body : {};
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = problem.code || (status === 0 ? "network_error" : `http_${status}`);
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.body = problem;
    this.retryAfterS = retryAfterS;
  }

  /** Worth trying the same request again later (rate limited, server trouble, network). */
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

// ---- the signed-in person ---------------------------------------------------------------------

const signedOutListeners = new Set();

export const auth = {
  token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  user() {
    try {
      return JSON.parse(sessionStorage.getItem(USER_KEY) || "null");
    } catch (_) {
      return null;
    }
  },
  save(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (user) sessionStorage.setItem(USER_KEY, JSON.stringify(user));
    else sessionStorage.removeItem(USER_KEY);
  },
  setUser(user) {
    sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

/** `fn(reason)` runs when a request comes back 401 (the token expired or was revoked). Returns an unsubscribe. */
export function onSignedOut(fn) {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

function signedOut(reason) {
  auth.clear();
  for (const fn of [...signedOutListeners]) {
    try {
      fn(reason);
    } catch (err) {
      console.warn("signed-out listener failed", err);
    }
  }
}

// ---- requests ---------------------------------------------------------------------------------

function retryAfterOf(resp) {
  const raw = resp.headers.get("Retry-After");
  if (!raw) return null;
  const n = Number(raw);
  if (Number.isFinite(n)) return Math.max(0, n);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? null : Math.max(0, (at - Date.now()) / 1000);
}

/**
 * One request. Resolves to `{status, data, etag}` for 2xx and 304; throws ApiError otherwise
 * (status 0 for a network failure). `token: false` sends no Authorization header (sign-in).
 */
export async function request(path, { method = "GET", body, headers = {}, signal, idempotencyKey, token } = {}) {
  const h = { Accept: "application/json", ...headers };
  const bearer = token === false ? null : token || auth.token();
  if (bearer) h.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (idempotencyKey) h["Idempotency-Key"] = idempotencyKey;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
      signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, { code: "network_error", detail: "Cannot reach the server. Check the connection." }, null);
  }
  let data = null;
  if (resp.status !== 204 && resp.status !== 304) {
    try {
      data = await resp.json();
    } catch (_) {
      data = null;
    }
  }
  if (resp.ok || resp.status === 304) return { status: resp.status, data, etag: resp.headers.get("ETag") };
  const error = new ApiError(resp.status, data, retryAfterOf(resp));
  if (resp.status === 401 && bearer && token !== false) signedOut(error.code);
  throw error;
}

/** The response body of a 2xx request (null for 204); throws ApiError otherwise. */
export async function api(path, options) {
  return (await request(path, options)).data;
}

export const get = (path, options) => api(path, { ...options, method: "GET" });
export const post = (path, body, options) => api(path, { ...options, method: "POST", body });
export const patch = (path, body, options) => api(path, { ...options, method: "PATCH", body });
export const put = (path, body, options) => api(path, { ...options, method: "PUT", body });
export const del = (path, options) => api(path, { ...options, method: "DELETE" });

/** A fresh Idempotency-Key: make one per user action and reuse it when repeating that same action. */
export function newIdempotencyKey() {
  return crypto.randomUUID();
}

// ---- signing in and out -----------------------------------------------------------------------

/** Sign in with email and password; keeps the token for this tab. Resolves to the user. */
export async function signIn(email, password) {
  const data = await api("/api/v1/auth/login", { method: "POST", body: { email, password }, token: false });
  auth.save(data.token, { ...data.user, expires_at: data.expires_at });
  return data.user;
}

/** Revoke the token on the server (best effort) and forget it here. */
export async function signOut() {
  const token = auth.token();
  auth.clear();
  if (!token) return;
  try {
    await request("/api/v1/auth/logout", { method: "POST", token });
  } catch (_) {
    // already invalid, or the server is unreachable: the token is gone from this tab either way
  }
}

/** The signed-in user according to the server (also proves the token still works). */
export async function whoAmI() {
  const user = await get("/api/v1/me");
  auth.setUser(user);
  return user;
}

// ---- jobs -------------------------------------------------------------------------------------

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("aborted", "AbortError"));
      }, { once: true });
    }
  });
}

/** Exponential backoff with full jitter, never sooner than the server's Retry-After. */
export function backoffMs(failures, retryAfterS) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures, 10));
  const jittered = ceiling / 2 + Math.random() * (ceiling / 2);
  return Math.max(jittered, (retryAfterS || 0) * 1000);
}

export const isTerminal = (job) => TERMINAL.includes(job && job.status);

/**
 * Follow a job until it ends. `onUpdate(job)` runs for the first state and every change after it
 * (status, progress, attempts). Resolves to the final job; rejects with ApiError for 401/403/404, or
 * AbortError when `signal` aborts. Transient trouble (429, 5xx, network) is retried with backoff; while
 * that happens `onTrouble(error, delayMs)` (optional) is told, so a page can say it is reconnecting.
 */
export async function watchJob(jobId, { onUpdate, onTrouble, signal, waitS = WAIT_S } = {}) {
  const path = `/api/v1/jobs/${encodeURIComponent(jobId)}`;
  let etag = null;
  let failures = 0;
  let job = null;
  for (;;) {
    if (signal && signal.aborted) throw new DOMException("aborted", "AbortError");
    try {
      const started = Date.now();
      const resp = await request(etag ? `${path}?wait=${waitS}` : path, {
        signal,
        headers: etag ? { "If-None-Match": etag } : {},
      });
      failures = 0;
      if (resp.status === 200) {
        job = resp.data;
        etag = resp.etag;
        if (onUpdate) onUpdate(job);
        if (isTerminal(job)) return job;
      } else if (Date.now() - started < MIN_UNCHANGED_MS) {
        // "Unchanged" at once (a server or proxy that does not hold long-polls): poll, do not spin.
        await sleep(MIN_UNCHANGED_MS, signal);
      }
    } catch (err) {
      if (!(err instanceof ApiError) || !err.transient) throw err;
      failures += 1;
      const delay = backoffMs(failures, err.retryAfterS);
      if (onTrouble) onTrouble(err, delay);
      await sleep(delay, signal);
    }
  }
}

/** Ask for a failed job to run again (it resumes after its recorded steps). Resolves to the job. */
export async function retryJob(jobId, options) {
  const data = await post(`/api/v1/jobs/${encodeURIComponent(jobId)}/retry`, undefined, options);
  return data.job;
}
