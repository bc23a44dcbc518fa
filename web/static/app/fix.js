/* The active suggested fix (card with script and decisions) and the outcome banner that follows it.
 *
 * Banner modes (seed 002): `verifying` right after the engineer acts on a fix (did it work?), `nudge` when a
 * fix acted on earlier still has no verdict, `partial` and `pending` while the fix is in those parked states,
 * `none` otherwise. A proposal from the assistant (`ai_outcome_proposal`) is offered for one-click confirmation,
 * never applied by itself.
 */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { patch, post, watchJob } from "../js/api.js";
import { html, showToast, toastError } from "./ui.js";

export const FIX_STATUS_WORDS = {
  proposed: "Suggested",
  applied_success: "Worked",
  applied_failed: "Didn't work",
  applied_partial: "Partly worked",
  applied_pending: "Waiting to verify",
  dismissed: "Dismissed",
};
const FIX_STATUS_ICON = {
  proposed: "◆", applied_success: "✓", applied_failed: "✗", applied_partial: "◐", applied_pending: "◷", dismissed: "–",
};
const TERMINAL = ["applied_success", "applied_failed", "dismissed"];
const NEEDS_NOTES = ["applied_partial", "applied_pending"];

const DECISIONS = [
  ["one_off", "Run it once", "Use this script for this session only"],
  ["draft_template", "Save as draft template", "Draft a reusable template from this script"],
  ["build_template", "Build a template", "Open the template builder with this script"],
  ["dismissed", "Dismiss", "This fix does not apply"],
];

export function bannerMode(fix, nudge) {
  if (!fix || fix.superseded_at) return "none";
  if (fix.status === "applied_partial") return "partial";
  if (fix.status === "applied_pending") return "pending";
  if (fix.status === "proposed" && fix.user_decision && fix.user_decision !== "dismissed") {
    return nudge ? "nudge" : "verifying";
  }
  return "none";
}

const scriptOf = (fix) => fix.edited_script || fix.ai_drafted_script || "";

async function copyText(text, fallbackNode) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    if (!fallbackNode) return false;
    const range = document.createRange();
    range.selectNodeContents(fallbackNode);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    return false;
  }
}

export function FixCard({ sessionId, fix, closed, onChange }) {
  const [busy, setBusy] = useState("");
  const [result, setResult] = useState(null); // the last decision's answer
  const [draftJob, setDraftJob] = useState(null);
  const scriptRef = useRef(null);
  const script = scriptOf(fix);

  useEffect(() => {
    setResult(null);
    setDraftJob(null);
  }, [fix.id]);

  useEffect(() => {
    if (!draftJob || ["succeeded", "failed", "cancelled"].includes(draftJob.status)) return undefined;
    const ctl = new AbortController();
    watchJob(draftJob.id, { signal: ctl.signal, onUpdate: setDraftJob }).catch(() => {});
    return () => ctl.abort();
  }, [draftJob && draftJob.id]);

  const decide = async (decision) => {
    setBusy(decision);
    try {
      const base = `/api/v1/ai-sessions/${encodeURIComponent(sessionId)}/suggested-fixes/${encodeURIComponent(fix.id)}`;
      const data = await post(`${base}/decision`, { decision });
      setResult(data);
      if (data.job) setDraftJob(data.job);
      showToast("info", decision === "dismissed" ? "Fix dismissed." : `Recorded: ${DECISIONS.find((d) => d[0] === decision)[1].toLowerCase()}.`);
      await onChange({ decided: true });
    } catch (err) {
      toastError(err, "Could not record the decision");
    } finally {
      setBusy("");
    }
  };

  const copy = async () => {
    const ok = await copyText(script, scriptRef.current);
    showToast("info", ok ? "Script copied to the clipboard." : "Script selected: press Ctrl+C to copy it.");
  };

  const canDecide = !closed && fix.status === "proposed";
  return html`
    <section class="card fix-card" data-testid="fix-card" data-fix-id=${fix.id} data-status=${fix.status}
      aria-labelledby="fix-h">
      <div class="card-head">
        <h2 id="fix-h">Suggested fix</h2>
        <span class=${`chip chip-${fix.status}`}>
          <span aria-hidden="true">${FIX_STATUS_ICON[fix.status]}</span> ${FIX_STATUS_WORDS[fix.status] || fix.status}
        </span>
      </div>
      <h3 class="fix-title" data-testid="fix-title">${fix.title}</h3>
      <p class="fix-description">${fix.description}</p>
      <div class="confidence">
        <span>Confidence</span>
        <meter min="0" max="100" value=${fix.confidence_pct} aria-label="Confidence">${fix.confidence_pct}%</meter>
        <strong>${fix.confidence_pct}%</strong>
      </div>
      ${script ? html`
        <div class="script-block">
          <div class="script-head">
            <span class="muted">Script</span>
            <button type="button" class="btn btn-sm" onClick=${copy}>Copy script</button>
          </div>
          <pre data-testid="fix-script" ref=${scriptRef}><code>${script}</code></pre>
        </div>` : html`<p class="muted">No drafted script: this fix follows a saved template.</p>`}
      ${canDecide ? html`
        <div class="decisions" role="group" aria-label="What will you do with this fix?">
          ${DECISIONS.map(([d, label, hint]) => html`
            <button type="button" class=${d === "one_off" ? "btn btn-primary" : "btn"} data-testid=${`decision-${d}`}
              title=${hint} aria-pressed=${fix.user_decision === d ? "true" : "false"} disabled=${!!busy}
              onClick=${() => decide(d)}>${busy === d ? "…" : label}</button>`)}
        </div>` : null}
      ${fix.user_decision ? html`<p class="muted small">Decision: ${fix.user_decision.replace("_", " ")}</p>` : null}
      <${DecisionResult} result=${result} job=${draftJob} />
    </section>`;
}

function DecisionResult({ result, job }) {
  if (!result) return null;
  return html`
    <div class="decision-result" aria-live="polite">
      ${result.rendered_script ? html`<details>
        <summary>Script to run</summary><pre class="rendered-script"><code>${result.rendered_script}</code></pre>
      </details>` : null}
      ${result.redirect_path ? html`<p>Continue in the template builder: <code>${result.redirect_path}</code></p>` : null}
      ${job ? html`<p class="job-line" data-status=${job.status}>
        Draft template: ${job.status === "succeeded" ? "ready for review" : job.status === "failed"
          ? `failed (${(job.error && job.error.message) || "unknown error"})` : `${job.status}…`}
      </p>` : null}
    </div>`;
}

// ---- the outcome banner -----------------------------------------------------------------------

const PROPOSAL_WORDS = {
  applied_success: "it worked", applied_failed: "it did not work", applied_partial: "it partly worked",
  applied_pending: "it is still waiting to be verified", dismissed: "it does not apply",
};

export function OutcomeBanner({ sessionId, fix, nudge, closed, onRecorded }) {
  const mode = closed ? "none" : bannerMode(fix, nudge);
  const [asking, setAsking] = useState(null); // the outcome whose notes field is open
  const [notes, setNotes] = useState("");
  const [busy, setBusy] = useState(false);
  const fieldRef = useRef(null);

  useEffect(() => {
    setAsking(null);
    setNotes("");
  }, [fix && fix.id, fix && fix.status]);
  useEffect(() => {
    if (asking && fieldRef.current) fieldRef.current.focus();
  }, [asking]);

  const proposal = fix && !TERMINAL.includes(fix.status) && !closed ? fix.ai_outcome_proposal : null;
  if (mode === "none" && !proposal) {
    return html`<div data-testid="outcome-banner" data-mode="none" hidden></div>`;
  }

  const record = async (outcome, text) => {
    setBusy(true);
    try {
      const body = { outcome };
      if (text && text.trim()) body.notes = text.trim();
      const base = `/api/v1/ai-sessions/${encodeURIComponent(sessionId)}/suggested-fixes/${encodeURIComponent(fix.id)}`;
      const updated = await patch(`${base}/outcome`, body);
      showToast("success", `Recorded: ${FIX_STATUS_WORDS[updated.status].toLowerCase()}.`);
      onRecorded(updated);
    } catch (err) {
      toastError(err, "Could not record the outcome");
    } finally {
      setBusy(false);
    }
  };

  const choose = (outcome) => {
    if (NEEDS_NOTES.includes(outcome)) {
      setAsking(outcome);
      setNotes(outcome === "applied_partial" ? fix.partial_notes || "" : fix.pending_reason || "");
    } else {
      record(outcome, "");
    }
  };

  const button = (outcome, label, icon) => html`
    <button type="button" class=${`btn outcome-btn outcome-${outcome}`} data-testid=${`outcome-${outcome}`}
      disabled=${busy} aria-expanded=${NEEDS_NOTES.includes(outcome) ? String(asking === outcome) : undefined}
      onClick=${() => choose(outcome)}><span aria-hidden="true">${icon}</span> ${label}</button>`;

  const texts = {
    verifying: [`Did “${fix.title}” work?`, "Tell FlowPilot how it went; the resolution note follows your answer."],
    nudge: [`Still checking “${fix.title}”?`, "You acted on this fix earlier and have not said how it went."],
    partial: ["Partly worked", fix.partial_notes ? `What is left: ${fix.partial_notes}` : ""],
    pending: ["Waiting to verify", fix.pending_reason || ""],
  };
  const [title, sub] = texts[mode] || ["", ""];
  return html`
    <section class=${`banner banner-${mode}`} data-testid="outcome-banner" data-mode=${mode}
      aria-label="Outcome of the suggested fix">
      ${mode !== "none" ? html`
        <div class="banner-text">
          <strong><span aria-hidden="true">${{ verifying: "?", nudge: "◷", partial: "◐", pending: "◷" }[mode]}</span> ${title}</strong>
          ${sub ? html`<p>${sub}</p>` : null}
        </div>
        <div class="banner-actions">
          ${button("applied_success", mode === "partial" ? "Works now" : "Worked", "✓")}
          ${button("applied_failed", "Didn't work", "✗")}
          ${mode === "verifying" ? button("applied_partial", "Partly", "◐") : null}
          ${mode === "verifying" ? button("applied_pending", "Waiting to verify…", "◷") : null}
          ${mode === "nudge" ? button("applied_pending", "Still checking", "◷") : null}
          ${mode === "partial" ? button("applied_partial", "Update notes", "✎") : null}
          ${mode === "pending" ? button("applied_pending", "Update reason", "✎") : null}
        </div>` : null}
      ${asking ? html`
        <form class="banner-field" onSubmit=${(e) => { e.preventDefault(); record(asking, notes); }}>
          <label for="outcome-notes">${asking === "applied_partial" ? "What is still not working?" : "What are you waiting on?"}</label>
          <textarea id="outcome-notes" data-testid="outcome-notes" rows="2" ref=${fieldRef} value=${notes}
            onInput=${(e) => setNotes(e.currentTarget.value)} required></textarea>
          <div class="row">
            <button type="submit" class="btn btn-primary" data-testid="outcome-submit" disabled=${busy || !notes.trim()}>Save</button>
            <button type="button" class="btn btn-quiet" onClick=${() => setAsking(null)}>Cancel</button>
          </div>
        </form>` : null}
      ${proposal ? html`
        <div class="proposal" data-testid="outcome-proposal">
          <p><strong>The assistant thinks ${PROPOSAL_WORDS[proposal.outcome] || proposal.outcome}.</strong>
            ${proposal.reason ? ` ${proposal.reason}` : ""}</p>
          <button type="button" class="btn" data-testid="outcome-proposal-accept" disabled=${busy}
            onClick=${() => record(proposal.outcome, proposal.notes || proposal.reason || "")}>
            <span aria-hidden="true">✓</span> Confirm: ${FIX_STATUS_WORDS[proposal.outcome] || proposal.outcome}</button>
        </div>` : null}
    </section>`;
}
