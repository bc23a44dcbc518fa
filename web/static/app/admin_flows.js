/* Admin: troubleshooting flows (list with status, a read-only tree, create or edit a draft from JSON with the
 * validation errors shown against their nodes, publish, bulk import of a flows file) and the categories L1
 * handles (enabled switch and keywords). */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, post, put } from "../js/api.js";
import { ago, describeError, html, showToast, toastError, useItems } from "./ui.js";

const TEMPLATE = {
  title: "Outlook keeps asking for a password",
  category: "email",
  keywords: ["outlook", "password prompt"],
  nodes: [
    { id: "q1", type: "question", text: "Does Outlook on the web accept the same password?",
      answers: [{ label: "Yes", next: "fix" }, { label: "No", next: "esc" }] },
    { id: "fix", type: "resolve", text: "Remove the saved Office entries in Credential Manager, reopen Outlook." },
    { id: "esc", type: "escalate", text: "Account problem: hand to the identity team." },
  ],
};

/** "nodes.1.answers.0.next" → "Node 2 (“q2”) › answer 1 › next", reading the ids from the JSON sent. */
export function placeOf(field, doc) {
  const parts = String(field || "").split(".");
  const out = [];
  let flow = doc;
  if (parts[0] === "flows" && /^\d+$/.test(parts[1] || "")) {
    const i = Number(parts[1]);
    const list = Array.isArray(doc) ? doc : (doc && doc.flows) || [];
    flow = list[i];
    out.push(`Flow ${i + 1}${flow && flow.title ? ` (“${flow.title}”)` : ""}`);
    parts.splice(0, 2);
  }
  for (let k = 0; k < parts.length; k += 1) {
    const p = parts[k];
    const n = parts[k + 1];
    if (p === "nodes" && /^\d+$/.test(n || "")) {
      const node = flow && flow.nodes && flow.nodes[Number(n)];
      out.push(`node ${Number(n) + 1}${node && node.id ? ` (“${node.id}”)` : ""}`);
      k += 1;
    } else if (p === "answers" && /^\d+$/.test(n || "")) {
      out.push(`answer ${Number(n) + 1}`);
      k += 1;
    } else if (p) out.push(p);
  }
  const text = out.join(" › ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function Errors({ errors, doc, title }) {
  if (!errors) return null;
  return html`
    <div class="form-error flow-errors" role="alert" data-testid="flow-errors">
      <strong>${title}</strong>
      <ul>${errors.map((e) => html`<li data-field=${e.field}><strong>${placeOf(e.field, doc) || "The file"}</strong>: ${e.message}</li>`)}</ul>
    </div>`;
}

const problemErrors = (err) => (err instanceof ApiError && err.errors.length ? err.errors : [{ field: "", message: describeError(err) }]);

/** A flow's tree from its start node, read-only; a node reached twice is shown once and referred to after. */
function Tree({ flow }) {
  const nodes = Object.fromEntries((flow.nodes || []).map((n) => [n.id, n]));
  const shown = new Set();
  const render = (id, depth) => {
    const node = nodes[id];
    if (!node) return html`<li class="muted">missing node “${id}”</li>`;
    if (shown.has(id) || depth > 50) return html`<li class="muted small">↪ see “${id}” above</li>`;
    shown.add(id);
    const icon = { question: "?", resolve: "✓", escalate: "⇪" }[node.type];
    return html`
      <li class=${`tree-node tree-${node.type}`}>
        <span class="tree-label"><span aria-hidden="true">${icon} </span><span class="sr-only">${node.type}: </span>
          <code>${node.id}</code> ${node.text}</span>
        ${node.answers && node.answers.length ? html`<ul>
          ${node.answers.map((a) => html`<li><span class="tree-answer">“${a.label}”</span><ul>${render(a.next, depth + 1)}</ul></li>`)}
        </ul>` : null}
      </li>`;
  };
  return html`<ul class="flow-tree" data-testid="flow-tree">${render(flow.start || (flow.nodes[0] || {}).id, 0)}</ul>`;
}

/** The editor's starting text: the draft being edited, else the template. */
function editorText(editing) {
  const f = editing.flow;
  const body = f
    ? { title: f.title, category: f.category, keywords: f.keywords, ...(f.description ? { description: f.description } : {}),
      start: f.start, nodes: f.nodes }
    : TEMPLATE;
  return JSON.stringify(body, null, 2);
}

function Editor({ editing, onSaved, onClose }) {
  // The text is there from the first render: filled in by an effect, it could overwrite what was typed first.
  const [text, setText] = useState(() => editorText(editing));
  const [errors, setErrors] = useState(null);
  const [sent, setSent] = useState(null);
  const [busy, setBusy] = useState(false);
  const ref = useRef(null);
  const shown = useRef(editing);
  useEffect(() => {
    if (shown.current !== editing) {  // another flow (or New) opened in the same editor
      shown.current = editing;
      setText(editorText(editing));
      setErrors(null);
    }
    if (ref.current) ref.current.focus();
  }, [editing]);

  const save = async (ev) => {
    ev.preventDefault();
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      setErrors([{ field: "", message: `not valid JSON (${err.message})` }]);
      setSent(null);
      return;
    }
    setBusy(true);
    setSent(doc);
    try {
      const saved = editing.flow ? await put(`/api/v1/l1/flows/${editing.flow.id}`, doc) : await post("/api/v1/l1/flows", doc);
      setErrors(null);
      showToast("success", `Draft “${saved.title}” saved. Publish it to let L1 intake match it.`, { title: "Flow saved" });
      onSaved(saved);
    } catch (err) {
      setErrors(problemErrors(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="stack flow-editor" onSubmit=${save} aria-labelledby="editor-h">
      <div class="card-head">
        <h3 id="editor-h">${editing.flow ? `Edit draft “${editing.flow.title}”` : "New flow"}</h3>
        <button type="button" class="btn btn-quiet btn-sm" onClick=${onClose}>Close</button>
      </div>
      <label for="flow-json">Flow JSON <span class="muted small">(title, category, keywords, nodes: question / resolve / escalate)</span></label>
      <textarea id="flow-json" data-testid="flow-json" rows="16" spellcheck="false" ref=${ref} value=${text}
        onInput=${(e) => setText(e.currentTarget.value)}></textarea>
      <${Errors} errors=${errors} doc=${sent} title="The flow was not saved:" />
      <div class="row"><button type="submit" class="btn btn-primary" data-testid="flow-save" disabled=${busy}>
        ${busy ? "Saving…" : "Save draft"}</button></div>
    </form>`;
}

function Import({ onImported }) {
  const [errors, setErrors] = useState(null);
  const [doc, setDoc] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const file = form.elements.file.files[0];
    if (!file) {
      setErrors([{ field: "", message: "choose a flows file (JSON) first" }]);
      return;
    }
    let parsed;
    try {
      parsed = JSON.parse(await file.text());
    } catch (err) {
      setErrors([{ field: "", message: `${file.name} is not valid JSON (${err.message})` }]);
      return;
    }
    setBusy(true);
    setDoc(parsed);
    try {
      const publish = form.elements.publish.checked;
      const res = await post(`/api/v1/l1/flows/import${publish ? "?publish=true" : ""}`, parsed);
      setErrors(null);
      form.reset();
      showToast("success", `${res.count} flow${res.count === 1 ? "" : "s"} imported${publish ? " and published" : " as drafts"}.`,
        { title: "Import done" });
      onImported();
    } catch (err) {
      setErrors(problemErrors(err));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="stack flow-import" onSubmit=${submit} aria-labelledby="import-h">
      <h3 id="import-h">Import a flows file</h3>
      <p class="muted small">${"One flow, a list, or "}<code>{"categories": [...], "flows": [...]}</code>${", as the "}<code>flows import</code>${" command reads it. All or nothing: one invalid flow imports none."}</p>
      <div class="row">
        <div class="field"><label for="import-file">Flows file</label>
          <input id="import-file" name="file" type="file" accept="application/json,.json" data-testid="flow-import-file" /></div>
        <label class="inline"><input type="checkbox" name="publish" data-testid="flow-import-publish" /> Publish them</label>
        <button type="submit" class="btn" data-testid="flow-import" disabled=${busy}>${busy ? "Importing…" : "Import"}</button>
      </div>
      <${Errors} errors=${errors} doc=${doc} title="Nothing was imported:" />
    </form>`;
}

export function FlowsSection({ onCategories }) {
  const [flows, load] = useItems("/api/v1/l1/flows?limit=200", "the flows");
  const [open, setOpen] = useState(null); // a flow with its tree, shown read-only
  const [editing, setEditing] = useState(null); // {flow?} in the editor

  const view = async (f, edit) => {
    try {
      const full = await get(`/api/v1/l1/flows/${f.id}`);
      if (edit) setEditing({ flow: full });
      else setOpen(full);
    } catch (err) {
      toastError(err, "Could not open the flow");
    }
  };
  const publish = async (f) => {
    try {
      const done = await post(`/api/v1/l1/flows/${f.id}/publish`);
      showToast("success", `“${done.title}” is published: intake can match it now.`, { title: "Published" });
      await load();
      onCategories();
    } catch (err) {
      toastError(err, "Could not publish");
    }
  };
  const changed = async (saved) => {
    setEditing(null);
    await load();
    onCategories();
    if (saved) setOpen(saved);
  };

  return html`
    <section class="card admin-section" id="flows" aria-labelledby="flows-h">
      <div class="card-head">
        <h2 id="flows-h">Flows <span class="count">${flows ? flows.length : "…"}</span></h2>
        <button type="button" class="btn" data-testid="flow-new" onClick=${() => setEditing({})}>New flow</button>
      </div>
      ${flows && !flows.length ? html`<p class="muted">No flows yet: write one, or import a file.</p>` : null}
      <ul class="plain-list">
        ${(flows || []).map((f) => html`
          <li key=${f.id} class="flow-row" data-testid="flow-row" data-flow-id=${f.id} data-status=${f.status}>
            <div class="flow-line">
              <span class="list-title">${f.title}</span>
              <span class="list-meta">
                <span class=${`badge ${f.status === "published" ? "badge-resolved" : "badge-paused"}`}>
                  <span aria-hidden="true">${f.status === "published" ? "✓" : "✎"}</span> ${f.status}</span>
                <span>${f.category}</span><span class="muted">${f.node_count} nodes · updated ${ago(f.updated_at)}</span>
              </span>
            </div>
            <div class="row">
              <button type="button" class="btn btn-sm" onClick=${() => view(f, false)}>View tree</button>
              ${f.status === "draft" ? html`
                <button type="button" class="btn btn-sm" data-testid="flow-edit" onClick=${() => view(f, true)}>Edit</button>
                <button type="button" class="btn btn-sm btn-primary" data-testid="flow-publish" onClick=${() => publish(f)}>Publish</button>`
                : null}
            </div>
          </li>`)}
      </ul>
      ${open ? html`
        <div class="tree-box" aria-labelledby="tree-h">
          <div class="card-head"><h3 id="tree-h">“${open.title}” <span class="muted small">(${open.status}, read-only)</span></h3>
            <button type="button" class="btn btn-quiet btn-sm" onClick=${() => setOpen(null)}>Close</button></div>
          <${Tree} flow=${open} />
        </div>` : null}
      ${editing ? html`<${Editor} editing=${editing} onSaved=${changed} onClose=${() => setEditing(null)} />` : null}
      <${Import} onImported=${() => changed(null)} />
    </section>`;
}

export function CategoriesSection({ version }) {
  const [items, load] = useItems("/api/v1/l1/categories", "the categories", [version]);

  const save = async (name, body) => {
    try {
      await put(`/api/v1/l1/categories/${encodeURIComponent(name)}`, body);
      await load();
      return true;
    } catch (err) {
      toastError(err, `Could not save “${name}”`);
      return false;
    }
  };
  const words = (text) => text.split(",").map((k) => k.trim()).filter(Boolean);
  const add = async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    const name = f.elements.name.value.trim().toLowerCase();
    if (!name) return;
    if (await save(name, { enabled: true, keywords: words(f.elements.keywords.value) })) {
      f.reset();
      showToast("success", `Category “${name}” added, in scope for L1.`);
    }
  };
  return html`
    <section class="card admin-section" id="categories" aria-labelledby="cat-h">
      <h2 id="cat-h">Categories</h2>
      <p class="muted small">What L1 handles. A problem in a switched-off category is “out of scope”: the technician
        escalates it without a walk. Keywords help classify problems.</p>
      <ul class="plain-list">
        ${(items || []).map((c) => html`
          <li key=${c.name} class="category-row" data-testid="category-row" data-name=${c.name} data-enabled=${String(c.enabled)}>
            <label class="inline switch">
              <input type="checkbox" data-testid="category-enabled" checked=${c.enabled}
                onChange=${(e) => save(c.name, { enabled: e.currentTarget.checked, keywords: c.keywords })} />
              <strong>${c.name}</strong> <span class="muted small">${c.enabled ? "in scope" : "out of scope"}</span>
            </label>
            <form class="inline-form" onSubmit=${(e) => { e.preventDefault(); save(c.name, { enabled: c.enabled, keywords: words(e.currentTarget.elements.kw.value) }).then((ok) => ok && showToast("success", `Keywords of “${c.name}” saved.`)); }}>
              <label class="sr-only" for=${`kw-${c.name}`}>Keywords of ${c.name}</label>
              <input id=${`kw-${c.name}`} name="kw" defaultValue=${(c.keywords || []).join(", ")} placeholder="keywords, comma separated" />
              <button type="submit" class="btn btn-sm">Save</button>
            </form>
          </li>`)}
      </ul>
      <form class="inline-form add-category" onSubmit=${add}>
        <label class="sr-only" for="cat-name">New category name</label>
        <input id="cat-name" name="name" placeholder="new category, e.g. printing" />
        <label class="sr-only" for="cat-kw">Its keywords</label>
        <input id="cat-kw" name="keywords" placeholder="keywords, comma separated" />
        <button type="submit" class="btn">Add</button>
      </form>
    </section>`;
}
