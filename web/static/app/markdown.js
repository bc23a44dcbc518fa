/* Markdown to safe DOM: marked parses, DOMPurify sanitises, and the result is appended as a DocumentFragment.
 *
 * Raw HTML inside the markdown is shown as text, as ConnectWise shows a note: the preview shows what the
 * ticket will show, and no markup typed into a note ever becomes an element (not even briefly, inside the
 * sanitiser). Our code never assigns an HTML string to the DOM; links open in a new tab without a referrer. */
import { useEffect, useRef } from "../vendor/preact-hooks.mjs";
import { Marked } from "../vendor/marked.mjs";
import DOMPurify from "../vendor/purify.mjs";
import { html } from "./ui.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const marked = new Marked({ gfm: true, breaks: true, async: false });
marked.use({ renderer: { html: (token) => escapeHtml(typeof token === "string" ? token : token.text) } });

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "img"],
  FORBID_ATTR: ["style"],
};

/** A sanitised DocumentFragment for `text` (markdown). */
export function renderMarkdown(text) {
  return DOMPurify.sanitize(marked.parse(String(text || "")), PURIFY);
}

/** Renders markdown into a container; `testid` names the container for tests. */
export function Markdown({ text, testid, label }) {
  const ref = useRef(null);
  useEffect(() => {
    if (ref.current) ref.current.replaceChildren(renderMarkdown(text));
  }, [text]);
  return html`<div class="markdown" ref=${ref} data-testid=${testid} aria-label=${label}></div>`;
}
