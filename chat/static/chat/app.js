// The chat page: sessions, a streamed conversation with cards, the session's constraints and mood, and the profile
// proposals, all through the public API (see api.js). A reference client: everything it does, curl can do too.

import { Problem, call, sendStreamed } from "./api.js";
import { constraintChips, el, message, when } from "./render.js";

const $ = (id) => document.getElementById(id);
const REGENERABLE = new Set(["llm_unavailable", "llm_timeout", "llm_bad_response", "stream_interrupted"]);

const state = { profile: null, session: null, ratings: new Map(), busy: false };

const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

function showProblem(problem) {
  let text = problem.message;
  if (problem.code === "throttled" && problem.retryAfter) text += ` Try again in ${problem.retryAfter} seconds.`;
  $("problem-text").textContent = text;
  $("regenerate").hidden = !REGENERABLE.has(problem.code);
  $("problem").hidden = false;
}

function clearProblem() {
  $("problem").hidden = true;
  $("problem-text").textContent = "";
}

/** Run an action, showing its problem if it fails; returns its result or undefined. */
async function attempt(action) {
  clearProblem();
  try {
    return await action();
  } catch (error) {
    if (!(error instanceof Problem)) throw error;
    showProblem(error);
    return undefined;
  }
}

async function rate(recommendationId, rating) {
  const result = await attempt(() => call("POST", `/recommendations/${recommendationId}/feedback`, { rating }));
  if (!result) throw new Error("not rated");
  state.ratings.set(recommendationId, rating);
}

// Ratings are not part of a message: the page remembers the ones given since it loaded.
const messageNode = (entry) => message(entry, { rate, ratedOf: (id) => state.ratings.get(id) });

// --- profile and proposals ---

async function loadProfile() {
  const profile = await attempt(() => call("GET", "/me"));
  if (!profile) return;
  state.profile = profile;
  $("display-name").textContent = profile.display_name || profile.username;
  renderProposals(profile.proposals || []);
}

function renderProposals(proposals) {
  const list = $("proposal-list");
  list.replaceChildren(
    ...proposals.map((proposal) => {
      const label = `${proposal.kind === "allergy" ? "Allergy" : "Diet"}: ${proposal.code.replaceAll("_", " ")}`;
      const decide = (verdict) => async () => {
        const profile = await attempt(() => call("POST", `/me/proposals/${proposal.id}/${verdict}`));
        if (!profile) return;
        state.profile = { ...state.profile, ...profile };
        renderProposals(profile.proposals || proposals.filter((other) => other.id !== proposal.id));
      };
      return el(
        "li",
        { class: "proposal" },
        el("span", {}, label),
        el("button", { type: "button", onclick: decide("accept"), "aria-label": `Save ${label} to your profile` }, "Save"),
        el("button", { type: "button", class: "quiet", onclick: decide("decline"), "aria-label": `Decline ${label}` }, "Decline"),
      );
    }),
  );
  $("proposals").hidden = proposals.length === 0;
}

// --- sessions ---

async function loadSessions() {
  const page = await attempt(() => call("GET", "/sessions?limit=100"));
  if (!page) return;
  $("session-list").replaceChildren(
    ...page.results.map((session) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "session-link",
            "aria-current": state.session?.id === session.id ? "true" : null,
            onclick: () => openSession(session.id),
          },
          el("span", { class: "session-name" }, session.title || "Untitled chat"),
          el("span", { class: "session-meta" }, `${session.status === "ended" ? "ended · " : ""}${when(session.last_activity_at)}`),
        ),
      ),
    ),
  );
}

async function openSession(sessionId) {
  const session = await attempt(() => call("GET", `/sessions/${sessionId}`));
  if (!session) return;
  renderSession(session);
  history.replaceState(null, "", `#${session.id}`);
  await loadSessions();
  (session.status === "open" ? $("message-input") : $("session-title")).focus();
}

function renderSession(session) {
  state.session = session;
  const open = session.status === "open";
  $("session-title").textContent = `${session.title || "Untitled chat"}${open ? "" : " (ended)"}`;
  $("session-actions").hidden = false;
  $("mood").value = session.mood || "";
  $("mood").disabled = !open;
  $("end-session").hidden = !open;
  $("summary").hidden = open || !session.summary;
  $("summary").textContent = session.summary ? `Summary: ${session.summary}` : "";
  $("composer").hidden = !open;
  renderConstraints(session.constraints);
  $("messages").replaceChildren(...session.messages.map(messageNode));
}

function renderConstraints(constraints) {
  const chips = constraintChips(constraints, {
    currency: state.profile?.currency || "KRW",
    remove: async (next) => {
      const session = await attempt(() => call("PUT", `/sessions/${state.session.id}/constraints`, next));
      if (!session) return;
      state.session = { ...state.session, constraints: session.constraints };
      renderConstraints(session.constraints);
      $("constraints-heading").focus();
    },
  });
  $("constraints").replaceChildren(...chips);
  $("constraints-section").hidden = chips.length === 0;
}

function clearSession() {
  state.session = null;
  $("session-title").textContent = "Pick a chat or start a new one";
  for (const id of ["session-actions", "composer", "summary", "constraints-section"]) $(id).hidden = true;
  $("messages").replaceChildren();
  history.replaceState(null, "", location.pathname);
}

// --- a turn ---

async function send(content) {
  const sessionId = state.session.id;
  const userNode = messageNode({ role: "user", content });
  const text = el("p", { class: "text" });
  const replyNode = el(
    "li",
    { class: "message assistant streaming", "aria-live": "polite", "aria-busy": "true" },
    el("span", { class: "visually-hidden" }, "Reply:"),
    text,
  );
  $("messages").append(userNode, replyNode);
  replyNode.scrollIntoView({ block: "end" });
  let started = false;
  let finished = false;
  try {
    for await (const event of sendStreamed(sessionId, content, newKey())) {
      started = true;
      if (event.name === "delta") {
        text.append(event.data.text);
      } else if (event.name === "done") {
        finished = true;
        replyNode.replaceWith(messageNode(event.data.assistant_message));
        if (event.data.mood) $("mood").value = event.data.mood.mood;
        state.session = { ...state.session, constraints: event.data.constraints };
        renderConstraints(event.data.constraints);
        // A stated allergy or diet may have become a profile proposal: show it to accept or decline.
        if (event.data.constraints.allergens.length || event.data.constraints.diets.length) loadProfile();
      } else if (event.name === "error") {
        throw new Problem(event.data, event.data.status);
      }
    }
    if (!finished) throw new Problem({ code: "stream_interrupted", detail: "The reply was cut off." }, 0);
  } catch (error) {
    replyNode.remove();
    if (!(error instanceof Problem)) throw error;
    // Refused before the stream began (throttled, too long, ...): nothing was stored; the text goes back to the box.
    if (!started) {
      userNode.remove();
      $("message-input").value = content;
    }
    showProblem(error);
    return;
  }
  loadSessions();
}

async function regenerate() {
  const sessionId = state.session.id;
  $("regenerate").disabled = true;
  const turn = await attempt(() => call("POST", `/sessions/${sessionId}/regenerate`, {}, { "Idempotency-Key": newKey() }));
  $("regenerate").disabled = false;
  if (turn) await openSession(sessionId);
}

// --- wiring ---

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("message-input");
  const content = input.value.trim();
  if (!content || state.busy) return;
  state.busy = true;
  $("send").disabled = true;
  input.value = "";
  clearProblem();
  try {
    await send(content);
  } finally {
    state.busy = false;
    $("send").disabled = false;
    input.focus();
  }
});

$("message-input").addEventListener("keydown", (event) => {
  // Enter sends, Shift+Enter breaks the line; never while an IME is composing (Korean input).
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

$("new-session").addEventListener("click", async () => {
  const session = await attempt(() => call("POST", "/sessions", { title: "" }));
  if (session) await openSession(session.id);
});

$("mood").addEventListener("change", async (event) => {
  const mood = event.target.value;
  if (!mood) return;
  const result = await attempt(() => call("PUT", `/sessions/${state.session.id}/mood`, { mood }));
  if (!result) event.target.value = state.session.mood || "";
  else state.session = { ...state.session, mood: result.mood };
});

$("end-session").addEventListener("click", async () => {
  const session = await attempt(() => call("POST", `/sessions/${state.session.id}/end`));
  if (!session) return;
  renderSession(session);
  await loadSessions();
  $("session-title").focus();
});

$("delete-session").addEventListener("click", async () => {
  if (!window.confirm("Delete this chat for good? Its messages and summary are erased.")) return;
  const done = await attempt(() => call("DELETE", `/sessions/${state.session.id}`));
  if (done === undefined) return;
  clearSession();
  await loadSessions();
  $("new-session").focus();
});

$("regenerate").addEventListener("click", regenerate);

await loadProfile();
await loadSessions();
const fromAddress = location.hash.slice(1);
if (/^[0-9a-f-]{36}$/.test(fromAddress)) await openSession(fromAddress);
