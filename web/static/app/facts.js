/* The facts panel: what the engineer (or the assistant) has confirmed; add and remove. */
import { useState } from "../vendor/preact-hooks.mjs";
import { del, post } from "../js/api.js";
import { AddLine, html, showToast, toastError } from "./ui.js";

export function FactsPanel({ sessionId, facts, closed, onChange }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const base = `/api/v1/ai-sessions/${encodeURIComponent(sessionId)}/facts`;

  const add = async (ev) => {
    ev.preventDefault();
    const value = text.trim();
    if (!value) return;
    setBusy(true);
    try {
      await post(base, { text: value });
      setText("");
      await onChange();
    } catch (err) {
      toastError(err, "Could not add the fact");
    } finally {
      setBusy(false);
    }
  };

  const remove = async (fact) => {
    try {
      await del(`${base}/${encodeURIComponent(fact.id)}`);
      await onChange();
      showToast("info", `Removed the fact “${fact.text}”.`);
    } catch (err) {
      toastError(err, "Could not remove the fact");
    }
  };

  return html`
    <section class="card facts" aria-labelledby="facts-h">
      <h2 id="facts-h">Facts <span class="count">${facts.length}</span></h2>
      ${facts.length === 0 ? html`<p class="muted">Nothing confirmed yet.</p>` : null}
      <ul class="fact-list">
        ${facts.map((f) => html`
          <li key=${f.id} class="fact" data-testid="fact-item" data-fact-id=${f.id}>
            <span>${f.text}</span>
            ${closed ? null : html`<button type="button" class="btn btn-quiet btn-sm" data-testid="fact-delete"
              onClick=${() => remove(f)} aria-label=${`Remove fact: ${f.text}`}>Remove</button>`}
          </li>`)}
      </ul>
      ${closed ? null : html`<${AddLine} id="fact-input" label="New fact" testid="fact" placeholder="Add a confirmed fact"
        text=${text} setText=${setText} busy=${busy} onSubmit=${add} />`}
    </section>`;
}
