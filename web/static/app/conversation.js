/* The conversation with the assistant, kept apart from the rest of the session page.
 *
 * It talks to the messages API exactly as API.md describes it:
 *   POST /ai-sessions/{id}/messages {"content"} → 202 {"message", "job"} (job kind "assistant.reply");
 *   the job's progress {"partial"} grows while the reply is written (followed with the shared watchJob);
 *   GET /ai-sessions/{id}/messages?after=<last id>&limit= → {"items", "next_cursor"}, oldest first;
 *   409 reply_in_flight (job_id names the reply being written) and 409 session_closed (resolved).
 * A reply job already running when the page opens (another tab, a reload) is picked up and followed.
 */
import { useEffect, useRef, useState } from "../vendor/preact-hooks.mjs";
import { ApiError, get, isTerminal, post, retryJob } from "../js/api.js";
import { rewatch } from "./jobs.js";
import { Markdown } from "./markdown.js";
import { describeError, html, showToast, toastError } from "./ui.js";

const PAGE = 100;

export function ConversationPanel({ sessionId, closed, onReply }) {
  const [phase, setPhase] = useState("loading"); // loading | ready | error
  const [messages, setMessages] = useState([]);
  const [reply, setReply] = useState(null); // the assistant.reply job being followed
  const [text, setText] = useState("");
  const [sending, setSending] = useState(false);
  const [error, setError] = useState("");
  const listRef = useRef(null);
  const ctl = useRef(null);
  const base = `/api/v1/ai-sessions/${encodeURIComponent(sessionId)}/messages`;

  /** Fetch every message after the last one we have (all pages), and append them. */
  const fetchNewer = async (known) => {
    let all = known;
    for (let guard = 0; guard < 50; guard += 1) {
      const last = all.length ? all[all.length - 1].id : null;
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (last) q.set("after", last);
      const data = await get(`${base}?${q}`);
      const items = (data.items || []).filter((m) => !all.some((k) => k.id === m.id));
      all = all.concat(items);
      if (!data.next_cursor || !items.length) break;
    }
    setMessages(all);
    return all;
  };

  const follow = (job) => {
    setReply(job);
    setError("");
    const watching = rewatch(ctl, job, { onUpdate: setReply });
    if (!watching) return;
    watching.then(async (final) => {
      if (final.status === "succeeded") {
        setReply(null);
        setMessages(await fetchNewer(messagesRef.current));
        if (onReply) onReply(final.result || {});
      } else {
        setError(final.status === "failed"
          ? `The assistant could not answer: ${(final.error && final.error.message) || "unknown error"}.`
          : "The reply was cancelled.");
      }
    }, (err) => {
      if (err && err.name !== "AbortError") setError(describeError(err));
    });
  };

  const messagesRef = useRef(messages);
  messagesRef.current = messages;

  useEffect(() => {
    (async () => {
      try {
        await fetchNewer([]);
        setPhase("ready");
        const jobs = await get(`/api/v1/ai-sessions/${encodeURIComponent(sessionId)}/jobs?kind=assistant.reply&limit=1`);
        const latest = (jobs.items || [])[0];
        if (latest && !isTerminal(latest)) follow(latest);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) {
          setError(describeError(err));
          setPhase("error");
        }
      }
    })();
    return () => ctl.current && ctl.current.abort();
  }, [sessionId]);

  useEffect(() => {
    if (listRef.current) listRef.current.scrollTop = listRef.current.scrollHeight;
  }, [messages.length, reply && reply.progress]);

  const send = async (ev) => {
    if (ev) ev.preventDefault();
    const content = text.trim();
    if (!content || sending) return;
    setSending(true);
    try {
      const data = await post(base, { content });
      setText("");
      setMessages([...messagesRef.current, data.message]);
      follow(data.job);
    } catch (err) {
      if (err instanceof ApiError && err.code === "reply_in_flight" && err.body.job_id) {
        showToast("info", "The assistant is still answering your last message.");
        follow(await get(`/api/v1/jobs/${encodeURIComponent(err.body.job_id)}`));
      } else if (err instanceof ApiError && err.code === "session_closed") {
        showToast("info", "This session is resolved: the conversation is closed.");
        if (onReply) onReply({});
      } else toastError(err, "Message not sent");
    } finally {
      setSending(false);
    }
  };

  const onKey = (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) send(ev);
  };

  const retry = async () => {
    try {
      follow(await retryJob(reply.id));
    } catch (err) {
      toastError(err, "Could not retry");
    }
  };

  const pending = reply && !isTerminal(reply);
  const partial = reply && reply.progress && reply.progress.partial;
  return html`
    <section class="card conversation" aria-labelledby="chat-h">
      <h2 id="chat-h">Assistant</h2>
      ${phase === "error" ? html`<p class="form-error" role="alert">${error}</p>` : null}
      ${phase === "ready" || phase === "loading" ? html`
        <ol class="chat-list" ref=${listRef} aria-live="off">
          ${phase === "ready" && !messages.length ? html`<li class="muted empty">Describe what you see; the assistant asks, suggests and keeps the facts.</li>` : null}
          ${messages.map((m) => html`
            <li key=${m.id} class=${`chat-message chat-${m.role}`} data-testid="chat-message" data-role=${m.role}>
              <span class="sr-only">${m.role === "user" ? "You:" : "Assistant:"}</span>
              ${m.role === "assistant" ? html`<${Markdown} text=${m.content} />` : html`<p>${m.content}</p>`}
            </li>`)}
          ${pending ? html`
            <li class="chat-message chat-assistant pending" data-testid="assistant-pending" aria-busy="true">
              ${partial ? html`<${Markdown} text=${partial} />
                <p class="muted small writing"><span class="spinner" aria-hidden="true"></span> writing…</p>`
                : html`<p class="muted"><span class="spinner" aria-hidden="true"></span> Thinking…</p>`}
            </li>` : null}
        </ol>
        <p class="sr-only" role="status" aria-live="polite">${pending ? "The assistant is answering." : ""}</p>
        ${reply && reply.status === "failed" || (error && phase === "ready") ? html`
          <p class="form-error" role="alert">${error}
            ${reply && reply.status === "failed" ? html` <button type="button" class="btn btn-sm" onClick=${retry}>Retry</button>` : null}
          </p>` : null}
        ${closed ? html`<p class="muted">This session is closed; the conversation is read-only.</p>` : html`
          <form class="chat-form" onSubmit=${send}>
            <label class="sr-only" for="chat-input">Message to the assistant</label>
            <textarea id="chat-input" data-testid="chat-input" rows="2" value=${text} disabled=${phase !== "ready"}
              onInput=${(e) => setText(e.currentTarget.value)} onKeyDown=${onKey}
              placeholder="Type a message; Enter sends, Shift+Enter adds a line"></textarea>
            <button type="submit" class="btn btn-primary" data-testid="chat-send"
              disabled=${phase !== "ready" || sending || pending || !text.trim()}>Send</button>
          </form>`}` : null}
    </section>`;
}
