/* Resolve / Escalate: one preview panel per kind (seeds 001/004 ResolutionNotePreview), then Confirm & post.
 *
 * The panel shows the cached draft at once, or the preview job live while it is written. The markdown is
 * edited inline and rendered (sanitised) next to it. Posting starts the writeback job; its status and step
 * are shown live (a live region) until a toast says what happened: the verified ConnectWise status and note
 * id, the local-only result, or the failure in words, with Retry where retrying can help.
 */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, isTerminal, newIdempotencyKey, post, retryJob, watchJob } from "../js/api.js";
import { rewatch } from "./jobs.js";
import { Markdown } from "./markdown.js";
import { describeError, fmtTime, html, showToast, toastError } from "./ui.js";

export const KINDS = {
  resolve: { path: "resolution-note", title: "Resolution note", verb: "Resolve", audience: "Customer-visible note on the ticket",
    allowedFrom: ["active", "paused", "requesting_escalation", "escalated"] },
  escalate: { path: "escalation-package", title: "Escalation package", verb: "Escalate", audience: "Internal note for the next engineer",
    allowedFrom: ["active", "paused", "resolved"] },
};
export const WRITEBACK_KINDS = "writeback.resolution_note,writeback.escalation_package";

const STEPS = [
  ["note_attempted", "Posting the note"],
  ["note_posted", "Note posted"],
  ["status_changed", "Status change asked"],
  ["status_verified", "Status verified"],
];

export const FAILURE_WORDS = {
  status_verification_failed: "ConnectWise did not take the status change",
  psa_auth_failed: "ConnectWise refused the connection's keys",
  psa_rejected: "ConnectWise rejected the request",
  psa_not_found: "ConnectWise does not know this ticket",
  psa_unavailable: "ConnectWise was unavailable",
  psa_rate_limited: "ConnectWise asked us to slow down",
  psa_connection_inactive: "The PSA connection is deactivated",
  psa_credentials_unreadable: "The stored PSA keys cannot be read",
  worker_lost: "The worker running the post stopped",
  session_state_conflict: "The session changed meanwhile",
};
// Failures a retry can fix once the cause is dealt with (the job resumes after its recorded steps).
const RETRYABLE = new Set(["status_verification_failed", "psa_auth_failed", "psa_unavailable", "psa_rate_limited",
  "psa_connection_inactive", "psa_credentials_unreadable", "worker_lost", "internal_error"]);

const stepOf = (job) => (job && job.progress && job.progress.step) || null;

function statusWords(r) {
  if (r.verified_status_name) return `ConnectWise status verified: ${r.verified_status_name}.`;
  if (r.status_transition_skipped_reason) return `Ticket status not changed: ${r.status_transition_skipped_reason}.`;
  return "";
}

/** The success toast: what was posted where, and the status ConnectWise really shows now. */
function successToast(result, session) {
  const ticket = session.psa_ticket_id;
  const what = {
    resolved: ["Resolved", `Resolution note #${result.external_id} posted to ticket #${ticket}. ${statusWords(result)}`],
    escalated: ["Escalated", `Internal escalation note #${result.external_id} posted to ticket #${ticket}. ${statusWords(result)}`],
    resolved_local: ["Resolved locally", "No PSA ticket is linked: the note is kept here and nothing was posted."],
    escalated_local: ["Escalated locally", "No PSA ticket is linked: the package is kept here and nothing was posted."],
  }[result.outcome] || ["Done", "The post finished."];
  showToast("success", what[1].trim(), { title: what[0] });
}

export function failureText(job, session) {
  const err = job.error || {};
  const words = FAILURE_WORDS[err.code] || (err.code || "failed").replaceAll("_", " ");
  let text = `${words}: ${err.message || "no details"}.`;
  if (err.code === "status_verification_failed") {
    const id = session && (session.resolution_note_external_id || session.escalation_package_external_id);
    text += ` The note was posted${id ? ` (#${id})` : ""} and is kept; Retry only asks for the status again, the note is not posted twice.`;
  }
  return text;
}

/** The writeback job of this page: post, follow it live, retry. */
function usePost(session, initialJob, onSessionChange) {
  const [job, setJob] = useState(initialJob && initialJob.status !== "succeeded" ? initialJob : null);
  const [trouble, setTrouble] = useState("");
  const ctl = useRef(null);
  const keys = useRef({});

  const follow = (j, { announce = true } = {}) => {
    setJob(j);
    setTrouble("");
    const watching = rewatch(ctl, j, {
      onUpdate: (x) => {
        setJob(x);
        setTrouble("");
      },
      onTrouble: (err, delay) => setTrouble(`Connection trouble (${describeError(err)}); checking again in ${Math.ceil(delay / 1000)} s…`),
    });
    if (!watching) return;
    watching.then(async (final) => {
      const fresh = (await onSessionChange()) || session;
      if (!announce) return;
      if (final.status === "succeeded") successToast(final.result || {}, fresh);
      else if (final.status === "failed") showToast("error", failureText(final, fresh), { title: "The post did not finish" });
      else showToast("info", "The post was cancelled.");
    }, (err) => {
      if (err && err.name !== "AbortError" && !(err instanceof ApiError && err.status === 401)) setTrouble(describeError(err));
    });
  };

  useEffect(() => {
    if (job && !isTerminal(job)) follow(job);
    return () => ctl.current && ctl.current.abort();
  }, []);

  const postNote = async (kind, markdown) => {
    const sig = `${kind}\n${markdown}`;
    keys.current[sig] = keys.current[sig] || newIdempotencyKey(); // the same text again: the same job
    try {
      const data = await post(`/api/v1/ai-sessions/${encodeURIComponent(session.id)}/${KINDS[kind].path}/post`,
        { markdown }, { idempotencyKey: keys.current[sig] });
      follow(data.job);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.code === "session_state_conflict" && err.body.job_id) {
        const other = await get(`/api/v1/jobs/${encodeURIComponent(err.body.job_id)}`).catch(() => null);
        if (other) {
          follow(other, { announce: !isTerminal(other) });
          showToast("info", other.status === "failed"
            ? "An earlier post already put a note on the ticket and then failed: retry it instead of posting again."
            : "A post for this session is already in progress: following it.");
          return false;
        }
      }
      toastError(err, "Could not post");
      return false;
    }
  };

  const retry = async () => {
    try {
      follow(await retryJob(job.id));
    } catch (err) {
      toastError(err, "Could not retry");
    }
  };
  return { job, trouble, postNote, retry };
}

function PostStatus({ job, trouble, session, onRetry }) {
  if (!job) return null;
  const step = stepOf(job);
  const reached = STEPS.findIndex(([s]) => s === step);
  const done = job.status === "succeeded";
  const retryable = job.status === "failed" && RETRYABLE.has((job.error || {}).code);
  const label = job.kind === "writeback.escalation_package" ? "Escalation package" : "Resolution note";
  return html`
    <section class=${`card post-status post-${job.status}`} aria-labelledby="post-h">
      <h2 id="post-h">${label}: ${{ succeeded: "posted", failed: "did not finish", cancelled: "cancelled" }[job.status] || "posting…"}</h2>
      <p class="post-line" aria-live="polite" aria-atomic="true">
        <span class="mono" data-testid="post-status" data-status=${job.status} data-step=${step || ""}>${job.status}${step ? `: ${step}` : ""}</span>
        ${job.status === "retrying" && job.next_attempt_at ? html` · next try ${fmtTime(job.next_attempt_at)}` : null}
      </p>
      <ol class="steps">
        <li class=${job.status !== "queued" ? "done" : "now"}><span aria-hidden="true">${job.status !== "queued" ? "✓" : "…"}</span> Queued</li>
        ${STEPS.map(([s, words], i) => {
          const ok = done || (reached >= i && !(job.status === "failed" && reached === i && s === "note_attempted"));
          return html`<li class=${ok ? "done" : ""}><span aria-hidden="true">${ok ? "✓" : "○"}</span> ${words}</li>`;
        })}
      </ol>
      ${trouble ? html`<p class="muted" role="status">${trouble}</p>` : null}
      ${job.status === "failed" ? html`<p class="form-error">${failureText(job, session)}</p>` : null}
      ${retryable ? html`<button type="button" class="btn btn-primary" data-testid="post-retry" onClick=${onRetry}>Retry</button>` : null}
    </section>`;
}

function PreviewPanel({ session, kind, posting, blocked, onConfirm, onClose }) {
  const k = KINDS[kind];
  const [phase, setPhase] = useState("loading"); // loading | generating | ready | error
  const [job, setJob] = useState(null);
  const [draft, setDraft] = useState(null); // {markdown, generated_at, generator, cached}
  const [markdown, setMarkdown] = useState("");
  const [error, setError] = useState("");
  const headingRef = useRef(null);
  const ctl = useRef(null);

  const take = (data) => {
    setDraft(data);
    setMarkdown(data.markdown || "");
    setPhase("ready");
  };

  const regenerate = () => {
    if (draft && markdown !== draft.markdown
        && !window.confirm("Discard your edits and load the draft for the session's current state?")) return;
    load(true);
  };

  const load = async (again = false) => {
    if (ctl.current) ctl.current.abort();
    setPhase("loading");
    setError("");
    try {
      const data = await post(`/api/v1/ai-sessions/${encodeURIComponent(session.id)}/${k.path}/preview`);
      if (!data.job) {
        take(data);
        if (again && data.cached) showToast("info", "Nothing changed in the session since this draft was written: it is the current draft.");
        return;
      }
      setJob(data.job);
      setPhase("generating");
      const c = new AbortController();
      ctl.current = c;
      const final = await watchJob(data.job.id, { signal: c.signal, onUpdate: setJob });
      if (final.status === "succeeded") take(final.result);
      else {
        setError(`The draft could not be written: ${(final.error && final.error.message) || final.status}.`);
        setPhase("error");
      }
    } catch (err) {
      if (err && err.name === "AbortError") return;
      setError(describeError(err));
      setPhase("error");
    }
  };

  useEffect(() => {
    load();
    if (headingRef.current) headingRef.current.focus();
    return () => ctl.current && ctl.current.abort();
  }, [kind]);

  const edited = draft && markdown !== draft.markdown;
  return html`
    <section class="card preview-panel" data-testid="preview-panel" data-kind=${kind} aria-labelledby="preview-h">
      <div class="card-head">
        <h2 id="preview-h" tabindex="-1" ref=${headingRef}>${k.title}</h2>
        <button type="button" class="btn btn-quiet btn-sm" onClick=${onClose}>Close</button>
      </div>
      <p class="muted small">${k.audience}${session.psa_ticket_id ? ` · ticket #${session.psa_ticket_id}` : " · no PSA ticket: kept here only"}</p>
      ${phase === "loading" ? html`<p class="muted" role="status">Loading the draft…</p>` : null}
      ${phase === "generating" ? html`
        <p class="generating" role="status" aria-live="polite">
          <span class="spinner" aria-hidden="true"></span> Writing the draft:
          <span data-testid="preview-status" data-status=${job && job.status}>${job ? job.status : "queued"}</span>
        </p>` : null}
      ${phase === "error" ? html`<p class="form-error" role="alert">${error}</p>` : null}
      ${phase === "ready" ? html`
        <p class="muted small draft-meta">
          Draft ${draft.cached ? "from the cache" : "just written"} · ${fmtTime(draft.generated_at)} · ${draft.generator}
          ${edited ? html` · <strong class="edited">edited by you</strong>` : null}
        </p>
        <div class="preview-body">
          <div class="field">
            <label for="preview-editor">Markdown (edit freely)</label>
            <textarea id="preview-editor" data-testid="preview-editor" rows="14" value=${markdown} spellcheck="true"
              onInput=${(e) => setMarkdown(e.currentTarget.value)}></textarea>
          </div>
          <div class="field">
            <span class="label" id="preview-rendered-label">What will be posted</span>
            <${Markdown} text=${markdown} testid="preview-rendered" label="Rendered preview" />
          </div>
        </div>` : null}
      <div class="row actions">
        <button type="button" class="btn" data-testid="preview-regenerate" onClick=${regenerate}
          disabled=${phase === "loading" || phase === "generating"}>${phase === "error" ? "Try again" : "Regenerate"}</button>
        <button type="button" class="btn btn-primary" data-testid="preview-confirm"
          disabled=${phase !== "ready" || !markdown.trim() || posting || blocked}
          onClick=${() => onConfirm(kind, markdown)}>Confirm & post</button>
      </div>
      ${blocked ? html`<p class="muted small">A note is already on the ticket from the post above: retry that post instead.</p>` : null}
    </section>`;
}

export function PostedSummary({ session }) {
  const parts = [];
  if (session.resolution_note_markdown && (session.status === "resolved" || session.resolution_note_posted_at)) {
    parts.push(["Resolution note", session.resolution_note_markdown, session.resolution_note_posted_at || session.resolved_at,
      session.resolution_note_external_id]);
  }
  if (session.escalation_package_markdown && (session.status === "escalated" || session.escalation_package_posted_at)) {
    parts.push(["Escalation package", session.escalation_package_markdown, session.escalation_package_posted_at || session.updated_at,
      session.escalation_package_external_id]);
  }
  if (!parts.length || !["resolved", "escalated"].includes(session.status)) return null;
  return html`
    <section class="card posted-summary" data-testid="posted-summary" aria-labelledby="posted-h">
      <h2 id="posted-h"><span aria-hidden="true">✓</span> ${session.status === "resolved" ? "Resolved" : "Escalated"}</h2>
      ${parts.map(([title, md, at, extId]) => html`
        <div class="posted-part">
          <p><strong>${title}</strong> ${extId
            ? html`posted ${fmtTime(at)} to ConnectWise ticket #${session.psa_ticket_id} as note #${extId}.`
            : html`kept locally ${fmtTime(at)} (no PSA ticket linked; nothing was posted).`}</p>
          <${Markdown} text=${md} label=${title} />
        </div>`)}
    </section>`;
}

export function ResolveEscalate({ session, writebackJob, onSessionChange }) {
  const [kind, setKind] = useState(null);
  const { job, trouble, postNote, retry } = usePost(session, writebackJob, onSessionChange);
  const posting = !!job && !isTerminal(job);
  // A failed post that already put its note on the ticket: a new post would be refused (409); retry it.
  const blocked = !!job && job.status === "failed" && (job.error || {}).code === "status_verification_failed";

  useEffect(() => {
    if (job && job.status === "succeeded") setKind(null);
  }, [job && job.status]);

  const confirm = async (k, markdown) => {
    await postNote(k, markdown);
  };

  const allowed = (k) => KINDS[k].allowedFrom.includes(session.status);
  return html`
    <div class="resolve-escalate">
      <${PostStatus} job=${job} trouble=${trouble} session=${session} onRetry=${retry} />
      <div class="row resolve-bar" role="group" aria-label="Finish the session">
        ${allowed("resolve") ? html`<button type="button" class=${kind === "resolve" ? "btn btn-primary" : "btn"}
          data-testid="preview-resolve" aria-pressed=${kind === "resolve" ? "true" : "false"} disabled=${posting}
          onClick=${() => setKind(kind === "resolve" ? null : "resolve")}>Preview Resolve note</button>` : null}
        ${allowed("escalate") ? html`<button type="button" class=${kind === "escalate" ? "btn btn-primary" : "btn"}
          data-testid="preview-escalate" aria-pressed=${kind === "escalate" ? "true" : "false"} disabled=${posting}
          onClick=${() => setKind(kind === "escalate" ? null : "escalate")}>Escalate instead</button>` : null}
      </div>
      ${kind ? html`<${PreviewPanel} key=${kind} session=${session} kind=${kind} posting=${posting} blocked=${blocked}
        onConfirm=${confirm} onClose=${() => setKind(null)} />` : null}
    </div>`;
}
