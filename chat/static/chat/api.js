// The API, called with the session cookie and the CSRF token: JSON calls answer the body or throw a Problem (RFC 9457
// problem details), and a streamed send yields its Server-Sent Events, read from fetch (EventSource cannot POST).

const BASE = "/api/v1";
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

export class Problem extends Error {
  constructor(body, status, retryAfter = null) {
    super(body.detail || body.title || `The server answered ${status}.`);
    this.code = body.code || "http_error";
    this.status = status;
    this.retryAfter = retryAfter; // seconds, from Retry-After
  }
}

const unreachable = () =>
  new Problem({ code: "network", detail: "The server could not be reached. Check the connection and try again." }, 0);

async function problemOf(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    body = { detail: `The server answered ${response.status}.` };
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new Problem(body, response.status, Number.isNaN(retryAfter) ? null : retryAfter);
}

async function request(method, path, { body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  try {
    return await fetch(BASE + path, init);
  } catch {
    throw unreachable();
  }
}

/** One JSON call: the parsed body (null for 204), or a thrown Problem. */
export async function call(method, path, body, headers = {}) {
  const response = await request(method, path, { body, headers: { Accept: "application/json", ...headers } });
  if (!response.ok) throw await problemOf(response);
  return response.status === 204 ? null : response.json();
}

/** A streamed send: yields {name, data} for each event (`delta`, then `done` or `error`); throws a Problem when the
 * server refuses the send before the stream starts (throttled, session ended, ...). */
export async function* sendStreamed(sessionId, content, idempotencyKey) {
  const response = await request("POST", `/sessions/${sessionId}/messages`, {
    body: { content },
    headers: { Accept: "text/event-stream", "Idempotency-Key": idempotencyKey },
  });
  if (!response.ok) throw await problemOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch {
      throw unreachable();
    }
    if (chunk.done) return;
    buffer += chunk.value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) yield event;
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")) } : null;
}
