// The operator console: sign in, see offered and own sessions update live
// (Server-Sent Events from /api/events), open one, take, reply, close.

const $ = (id) => document.getElementById(id);
let csrf = null;
let current = null; // the open session's id
let events = null;

/** Calls the JSON API; throws an Error carrying status and message. */
async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((data && data.error) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

/** A list answer: a plain array or a page with `items`. */
const items = (data) => (Array.isArray(data) ? data : (data && data.items) || []);

function show(signedIn) {
  $("sign-in").hidden = signedIn;
  $("desk").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
}

async function start() {
  try {
    const me = await api("GET", "/api/auth/me");
    csrf = me.csrf_token || null;
    $("who").textContent = `Signed in as ${me.user}`;
    show(true);
    follow();
    await refresh();
  } catch (error) {
    if (error.status !== 401) console.warn(error);
    show(false);
    $("who").textContent = "";
  }
}

function sessionItem(session, list) {
  const li = document.createElement("li");
  li.tabIndex = 0;
  li.dataset.session = session.id;
  const waiting = new Date(session.opened_at);
  li.textContent = `Session ${session.id.slice(0, 8)} · ${session.status.state} · since ${waiting.toLocaleTimeString()}`;
  if (session.id === current) li.setAttribute("aria-current", "true");
  const open = () => openSession(session.id);
  li.addEventListener("click", open);
  li.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      open();
    }
  });
  list.append(li);
}

function fill(list, sessions, emptyText) {
  list.replaceChildren();
  if (sessions.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = emptyText;
    list.append(li);
  }
  for (const s of sessions) sessionItem(s, list);
}

async function refresh() {
  const [offered, assigned] = await Promise.all([
    api("GET", "/api/sessions/offered"),
    api("GET", "/api/sessions/assigned"),
  ]);
  fill($("offered"), items(offered), "Nothing waiting");
  fill($("assigned"), items(assigned), "No sessions of yours");
  if (current) await loadMessages();
}

async function openSession(id) {
  current = id;
  $("session").hidden = false;
  $("session-title").textContent = `Session ${id.slice(0, 8)}`;
  $("session-error").textContent = "";
  for (const li of document.querySelectorAll(".sessions li")) {
    li.setAttribute("aria-current", String(li.dataset.session === id));
  }
  await loadMessages();
}

async function loadMessages() {
  const id = current;
  try {
    const messages = items(await api("GET", `/api/sessions/${id}/messages?limit=500`));
    if (id !== current) return;
    const list = $("messages");
    list.replaceChildren();
    for (const m of messages) {
      const li = document.createElement("li");
      li.className = m.direction === "outbound" ? "out" : "in";
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = m.author.kind === "operator" ? m.author.user : m.author.kind;
      const text = document.createElement("span");
      text.textContent = m.body.text;
      li.append(who, text);
      list.append(li);
    }
    list.scrollTop = list.scrollHeight;
  } catch (error) {
    $("session-error").textContent = error.message;
  }
}

async function act(path, body) {
  $("session-error").textContent = "";
  try {
    await api("POST", path, body);
    await refresh();
    return true;
  } catch (error) {
    $("session-error").textContent =
      error.status === 409 ? `Already taken: ${error.message}` : error.message;
    return false;
  }
}

/** Live updates: any event the user may see refreshes the lists. */
function follow() {
  if (events) events.close();
  events = new EventSource("/api/events", { withCredentials: true });
  let pending = null;
  const changed = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refresh().catch((e) => console.warn(e));
    }, 50);
  };
  events.onopen = () => $("live").classList.add("on");
  events.onerror = () => $("live").classList.remove("on");
  for (const name of [
    "session_opened", "session_offered", "session_queued", "session_assigned",
    "session_transferred", "session_closed", "message_in", "message_out",
    "delivery_succeeded", "delivery_failed",
  ]) {
    events.addEventListener(name, changed);
  }
}

$("sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  $("sign-in-error").textContent = "";
  try {
    await api("POST", "/api/auth/sign-in", { user: form.get("user"), password: form.get("password") });
    e.target.reset();
    await start();
  } catch (error) {
    $("sign-in-error").textContent = error.status === 401 ? "Wrong user or password" : error.message;
  }
});

$("sign-out").addEventListener("click", async () => {
  try {
    await api("POST", "/api/auth/sign-out", {});
  } finally {
    if (events) events.close();
    csrf = null;
    current = null;
    await start();
  }
});

$("take").addEventListener("click", () => act(`/api/sessions/${current}/take`, {}));
$("close").addEventListener("click", () => act(`/api/sessions/${current}/close`, {}));
$("reply").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("reply-text").value;
  if (await act(`/api/sessions/${current}/reply`, { text })) $("reply-text").value = "";
});

start();
