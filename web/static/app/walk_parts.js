/* Pieces of an L1 walk shown in several places: the path walked, the notes, the escalation reason, and the
 * words for walk statuses and reason categories. */
import { fmtTime, html } from "./ui.js";

export const REASON_CATEGORIES = [
  ["needs_engineer", "Needs an engineer"],
  ["flow_dead_end", "The flow did not cover it"],
  ["no_fix_found", "Nothing fixed it"],
  ["hardware", "Hardware fault / on-site visit"],
  ["access", "Needs access L1 does not have"],
  ["customer_request", "The customer asked for it"],
  ["out_of_scope", "Out of L1 scope"],
  ["other", "Other"],
];
const REASON_WORDS = Object.fromEntries(REASON_CATEGORIES);

export const reasonWords = (category) => REASON_WORDS[category] || (category || "other").replaceAll("_", " ");

export const WALK_STATUS = {
  active: ["●", "In progress"],
  resolved: ["✓", "Resolved"],
  escalated: ["⇪", "Escalated"],
};

export function WalkBadge({ status, testid }) {
  const [icon, words] = WALK_STATUS[status] || ["•", status];
  return html`<span class=${`badge badge-${status === "active" ? "active" : status}`}>
    <span class="badge-icon" aria-hidden="true">${icon}</span>
    <span class="badge-text" data-testid=${testid} data-status=${status}>${words}</span>
  </span>`;
}

/** The questions answered so far, in order. */
export function WalkPath({ path, testid = "walk-path", empty = "Nothing answered yet." }) {
  const steps = (path || []).filter((p) => p.question || p.answer);
  if (!steps.length) return html`<p class="muted small" data-testid=${testid}>${empty}</p>`;
  return html`
    <ol class="walk-path" data-testid=${testid}>
      ${steps.map((p, i) => html`
        <li key=${i}>
          <span class="q">${p.question}</span>
          <span class="a"><span aria-hidden="true">→ </span><span class="sr-only">Answer: </span>${p.answer}</span>
          ${p.note ? html`<span class="muted small"> · ${p.note}</span>` : null}
        </li>`)}
    </ol>`;
}

export function WalkNotes({ notes }) {
  if (!notes || !notes.length) return html`<p class="muted small">No notes.</p>`;
  return html`
    <ul class="walk-notes">
      ${notes.map((n) => html`<li key=${n.id || n.at}><span>${n.text}</span>
        <span class="muted small"> · ${fmtTime(n.at)}</span></li>`)}
    </ul>`;
}

/** Everything an engineer needs from an escalated walk (the queue row, the session it became). */
export function WalkSummary({ walk, problem, customer, headingLevel = "h3" }) {
  const H = headingLevel;
  const path = walk.path || walk.walked_path || [];
  const notes = walk.notes || walk.walk_notes || [];
  const reason = walk.escalation_reason;
  const category = walk.escalation_reason_category;
  return html`
    <div class="walk-summary">
      ${problem ? html`<p class="walk-problem"><strong>${problem}</strong>${customer ? html` <span class="muted">· ${customer}</span>` : null}</p>` : null}
      <p class="small muted">
        ${walk.flow_title ? html`Flow: ${walk.flow_title}` : walk.session_kind === "escalate_without_walk"
          ? "Escalated without a walk" : walk.session_kind === "ai_build" ? "AI-built walk" : "Walk"}
        ${walk.category ? html` · category ${walk.category}` : null}
      </p>
      <${H} class="mini-h">Reason</${H}>
      <p class="walk-reason"><span class="chip">${reasonWords(category)}</span> ${reason || html`<span class="muted">no reason given</span>`}</p>
      <${H} class="mini-h">Path</${H}>
      <${WalkPath} path=${path} testid="escalation-path" empty="No questions were walked." />
      <${H} class="mini-h">Notes</${H}>
      <${WalkNotes} notes=${notes} />
    </div>`;
}
