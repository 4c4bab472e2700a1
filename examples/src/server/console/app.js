// The operator console: sign in, see offered and own sessions update live
// (Server-Sent Events from /api/events), open one, take, reply, transfer,
// return to the queue, close; the client block links the client's account
// and registers requests.

import * as board from "/console/board.js";

const $ = (id) => document.getElementById(id);
let csrf = null;
let current = null; // the open session's id
let me = null; // the signed-in user's id
let events = null;
let operatorsOf = null; // the session whose operators the transfer list shows

/** Calls the JSON API; throws an Error carrying status, code and message. */
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
    error.code = (data && data.code) || "";
    // The session expired or was revoked: back to the sign-in form.
    if (response.status === 401 && !path.startsWith("/api/auth/")) signedOut();
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

/** Shows the sign-in form (the session ended). */
function signedOut() {
  if (events) events.close();
  events = null;
  csrf = null;
  me = null;
  current = null;
  $("session").hidden = true;
  board.stop();
  show(false);
  $("who").textContent = "";
}

async function start() {
  try {
    const who = await api("GET", "/api/auth/me");
    if (!who.signed_in) {
      signedOut();
      return;
    }
    csrf = who.csrf_token || null;
    me = who.user;
    $("who").textContent = `Signed in as ${who.user}`;
    show(true);
    follow();
    await refresh();
    await board.start(api);
  } catch (error) {
    console.warn(error);
    signedOut();
  }
}

function sessionItem(session, list) {
  const li = document.createElement("li");
  li.dataset.session = session.id;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "open";
  const waiting = new Date(session.opened_at);
  button.textContent = `Session ${session.id.slice(-8)} · ${session.status.state} · since ${waiting.toLocaleTimeString()}`;
  if (session.id === current) button.setAttribute("aria-current", "true");
  button.addEventListener("click", () => openSession(session.id));
  li.append(button);
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
  // Keep the keyboard focus on the same session across the redraw.
  const focused = document.activeElement && document.activeElement.closest(".sessions li");
  const focusedId = focused ? focused.dataset.session : null;
  fill($("offered"), items(offered), "Nothing waiting");
  fill($("assigned"), items(assigned), "No sessions of yours");
  if (focusedId) {
    const again = document.querySelector(`.sessions li[data-session="${focusedId}"] button`);
    if (again) again.focus();
  }
  if (current) await loadMessages();
  await board.refresh();
}

async function openSession(id) {
  current = id;
  operatorsOf = null;
  $("link-form").hidden = true;
  $("request-form").hidden = true;
  $("session").hidden = false;
  $("session-title").textContent = `Session ${id.slice(-8)}`;
  $("session-error").textContent = "";
  for (const li of document.querySelectorAll(".sessions li[data-session]")) {
    li.firstChild.setAttribute("aria-current", String(li.dataset.session === id));
  }
  await loadMessages();
  await loadClient();
}

/** Shows what the user may do with the open session, and who has it. */
function showState(session) {
  const status = session.status;
  const mine = status.state === "assigned" && status.operator === me;
  const other = status.state === "assigned" && !mine;
  $("session-status").textContent = other
    ? `assigned to ${status.operator}`
    : mine ? "yours" : status.state;
  $("session-taken").hidden = !other;
  $("session-taken").textContent = other ? `Already taken by ${status.operator}` : "";
  // Take stays offered unless the session is yours or closed: a late
  // take is answered "already taken".
  $("take").hidden = mine || status.state === "closed";
  $("close").hidden = status.state === "closed";
  $("return").hidden = !mine;
  $("transfer").hidden = !mine;
  $("reply").hidden = !mine;
  if (!mine) operatorsOf = null;
  else if (operatorsOf !== session.id) loadOperators(session.id);
}

/** Fills the transfer list with the line's other operators; only present
 * ones can be chosen. */
async function loadOperators(id) {
  operatorsOf = id;
  let list;
  try {
    list = items(await api("GET", `/api/sessions/${id}/operators?limit=500`));
  } catch (error) {
    operatorsOf = null;
    $("session-error").textContent = error.message;
    return;
  }
  if (id !== current) return;
  const choices = list.filter((o) => !o.assigned && o.user !== me);
  const present = choices.filter((o) => o.availability === "present");
  const select = $("transfer-to");
  const first = document.createElement("option");
  first.value = "";
  first.textContent = present.length ? "Choose an operator" : "No other operator is present";
  const options = [first];
  for (const o of choices) {
    const option = document.createElement("option");
    option.value = o.user;
    option.textContent = o.name && o.name !== o.user ? `${o.name} (${o.user})` : o.user;
    if (o.availability !== "present") {
      option.disabled = true;
      option.textContent += ` (${o.availability})`;
    }
    options.push(option);
  }
  select.replaceChildren(...options);
  $("transfer").querySelector("button").disabled = present.length === 0;
}

/** Inputs for an application's fields (the Account field is the client's). */
function fieldInputs(container, app) {
  for (const old of container.querySelectorAll("label")) old.remove();
  for (const field of app.fields) {
    if (field.kind === "account") continue;
    const label = document.createElement("label");
    label.textContent = `${field.label} `;
    const inputEl = document.createElement("input");
    inputEl.name = field.id;
    inputEl.dataset.kind = field.kind;
    inputEl.autocomplete = "off";
    if (field.kind === "number") inputEl.type = "number";
    if (field.kind === "bool") inputEl.type = "checkbox";
    if (field.kind === "date_time") inputEl.type = "datetime-local";
    label.append(inputEl);
    container.append(label);
  }
}

/** The values of the inputs `fieldInputs` made (empty ones left out). */
function fieldValues(container) {
  const values = {};
  for (const el of container.querySelectorAll("input[data-kind]")) {
    const kind = el.dataset.kind;
    if (kind === "bool") values[el.name] = { kind, value: el.checked };
    else if (el.value === "") continue;
    else if (kind === "number") values[el.name] = { kind, value: Number(el.value) };
    else if (kind === "date_time") values[el.name] = { kind, value: new Date(el.value).toISOString() };
    else values[el.name] = { kind, value: el.value };
  }
  return values;
}

let requestApp = null; // the request app whose form is open

/** The client block: the linked account, "+ Link" and the request apps. */
async function loadClient() {
  const id = current;
  let info;
  try {
    info = await api("GET", `/api/sessions/${id}/client`);
  } catch (error) {
    $("session-error").textContent = error.message;
    return;
  }
  if (id !== current) return;
  const hasApps = info.account_app || info.request_apps.length > 0;
  $("client").hidden = !hasApps;
  $("account").hidden = !info.account_app;
  if (info.account_app) {
    $("account-state").textContent = info.account
      ? `Linked: ${info.account_app.name} ${info.account.item}`
      : "Not linked";
    $("link").hidden = false;
    $("link").textContent = info.account ? "+ Link another" : "+ Link";
    fieldInputs($("link-fields"), info.account_app);
  }
  const buttons = $("request-apps");
  buttons.replaceChildren();
  for (const app of info.request_apps) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `New ${app.name}`;
    button.addEventListener("click", () => {
      requestApp = app;
      $("request-legend").textContent = `New ${app.name}`;
      fieldInputs($("request-fields"), app);
      $("request-form").hidden = false;
      const first = $("request-fields").querySelector("input");
      if (first) first.focus();
    });
    buttons.append(button);
  }
  const list = $("requests");
  list.replaceChildren();
  for (const r of info.requests) {
    const li = document.createElement("li");
    li.textContent = `${r.app} ${r.item} by ${r.created_by}`;
    list.append(li);
  }
}

async function loadMessages() {
  const id = current;
  try {
    const session = await api("GET", `/api/sessions/${id}`);
    if (id !== current) return;
    showState(session);
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
      for (const a of m.body.attachments || []) {
        const file = document.createElement("span");
        file.className = "file";
        file.textContent = `📎 ${a.name} (${a.size} bytes)`;
        li.append(file);
      }
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
    if (current) await loadMessages();
    // Shown last, in the same turn as the caller's reaction to `false`.
    $("session-error").textContent = error.code === "already_taken"
      ? `Already taken: ${error.message}`
      : error.message;
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
    "session_transferred", "session_closed", "session_priority_changed",
    "session_with_bot", "session_handed_over", "session_reopened", "session_inactive",
    "session_unanswered", "session_not_accepted", "session_operator_absent",
    "sla_warning", "sla_breached",
    "message_in", "message_out", "delivery_succeeded", "delivery_failed",
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
  } catch (error) {
    console.warn(error);
  } finally {
    signedOut();
  }
});

$("take").addEventListener("click", () => act(`/api/sessions/${current}/take`, {}));
$("return").addEventListener("click", () => act(`/api/sessions/${current}/return`, {}));
$("transfer").addEventListener("submit", async (e) => {
  e.preventDefault();
  const to = $("transfer-to").value;
  if (!to) return;
  if (await act(`/api/sessions/${current}/transfer`, { to })) $("transfer-to").value = "";
});
$("link").addEventListener("click", () => {
  $("link-form").hidden = false;
  $("link-form").querySelector("input").focus();
});
$("link-cancel").addEventListener("click", () => {
  $("link-form").hidden = true;
  $("link").focus();
});
$("link-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const item = e.target.elements.namedItem("item").value.trim();
  const body = item ? { item } : { values: fieldValues($("link-fields")) };
  if (await act(`/api/sessions/${current}/account`, body)) {
    e.target.reset();
    $("link-form").hidden = true;
    await loadClient();
  }
});
$("request-cancel").addEventListener("click", () => {
  $("request-form").hidden = true;
});
$("request-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!requestApp) return;
  const body = { app: requestApp.id, values: fieldValues($("request-fields")) };
  if (await act(`/api/sessions/${current}/requests`, body)) {
    $("request-form").hidden = true;
    await loadClient();
  }
});
$("close").addEventListener("click", () => act(`/api/sessions/${current}/close`, {}));
/** A file's bytes as base64. */
async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

$("reply").addEventListener("submit", async (e) => {
  e.preventDefault();
  const box = $("reply-text");
  const picker = $("reply-files");
  const text = box.value;
  const chosen = [...picker.files];
  if (!text.trim() && chosen.length === 0) {
    $("session-error").textContent = "Write a reply or attach a file";
    return;
  }
  // The box is emptied as the reply leaves, before the live stream can show
  // it, and is given back if the server refuses the reply.
  box.value = "";
  picker.value = "";
  let sent;
  if (chosen.length === 0) {
    sent = await act(`/api/sessions/${current}/reply`, { text });
  } else {
    const files = [];
    for (const f of chosen) {
      files.push({ name: f.name, mime_type: f.type || "application/octet-stream", data: await base64Of(f) });
    }
    sent = await act(`/api/sessions/${current}/reply-with-files`, { text, files });
  }
  if (!sent) {
    if (!box.value) box.value = text;
    if (picker.files.length === 0 && chosen.length > 0) {
      const back = new DataTransfer();
      for (const f of chosen) back.items.add(f);
      picker.files = back.files;
    }
  }
});

start();
