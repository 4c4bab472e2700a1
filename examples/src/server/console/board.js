// The supervisor board: for each line the signed-in user supervises, its
// open sessions (queue, offers, assignments) with waiting time, SLA state
// and priority, its operators with availability and load, assigning a
// session to an operator, and setting a session's priority. app.js starts
// it after sign-in and refreshes it on live events.

const $ = (id) => document.getElementById(id);

/** A session's short name: the random end of its id (the start is a time). */
const short = (id) => id.slice(-8);

let call = null; // the console's API function
let lines = [];
let line = null; // the shown line's id

/** Session priorities, lowest first (as the server names them). */
const PRIORITIES = ["low", "normal", "high", "urgent"];

/**
 * The priority a waiting session has now on a line with aging (`step`
 * seconds per step since it opened), as the server orders it; the stored
 * one otherwise.
 */
function effective(session, step) {
  const rank = PRIORITIES.indexOf(session.priority || "normal");
  const waiting = session.status.state === "queued" || session.status.state === "offered";
  if (!step || !waiting || rank < 0) return session.priority || "normal";
  const steps = Math.max(0, Math.floor((Date.now() - new Date(session.opened_at).getTime()) / (step * 1000)));
  return PRIORITIES[Math.min(PRIORITIES.length - 1, rank + steps)];
}

/** "4 min", "1 h 5 min": how long since `iso`. */
function waited(iso) {
  if (!iso) return "answered";
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  if (minutes < 1) return "under 1 min";
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A time of day for `iso`, or "—". */
function clock(iso) {
  return iso ? new Date(iso).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" }) : "—";
}

/** Why the session is where it is, from its route reason (the time rules included). */
function why(reason) {
  switch (reason && reason.reason) {
    case "new": return "new";
    case "first_come": return "offered to all";
    case "responsible": return "responsible employee";
    case "responsible_fallback": return "responsible absent: offered to all";
    case "round_robin": return "round robin";
    case "least_loaded": return "least loaded";
    case "no_operator_available": return "no operator available";
    case "taken": return "taken";
    case "assigned_by_supervisor": return `assigned by ${reason.by}`;
    case "transferred": return `transferred by ${reason.by}`;
    case "returned": return `returned by ${reason.by}`;
    case "unanswered":
      return `unanswered ×${reason.lapses}` + (reason.overflow ? `, overflowed to ${reason.overflow}` : "");
    case "not_accepted": return `not accepted by ${reason.lapsed.join(", ")}`;
    case "operator_absent": return `operator ${reason.operator} ${reason.availability}`;
    case "off_hours":
      return `off hours, opens ${clock(reason.opens_at)}` + (reason.group ? `; offered to ${reason.group}` : "");
    case "reopened": return reason.operator ? `reopened (was ${reason.operator})` : "reopened";
    case "bot_stage": return "with the bot";
    case "handed_over": return `handed over by the bot stage (${handover(reason.handover)})`;
    case "custom": return reason.note;
    default: return reason && reason.reason ? reason.reason.replaceAll("_", " ") : "—";
  }
}

/** Why the bot stage handed a session over, in words. */
function handover(h) {
  switch (h && h.cause) {
    case "bot": return h.note ? `the bot: ${h.note}` : "the bot";
    case "keyword": return `keyword "${h.keyword}"`;
    case "bot_error": return "bot error";
    case "timeout": return "bot timeout";
    case "no_bot": return "no bot";
    default: return h && h.cause ? h.cause.replaceAll("_", " ") : "—";
  }
}

/** "first response due Mon 12:04", "resolution breached": a session's SLA state on the board. */
function sla(state) {
  if (!state) return "—";
  const target = state.target.replaceAll("_", " ");
  if (state.state === "breached") return `${target} breached`;
  const due = `${target} due ${clock(state.due_at)}`;
  return state.state === "warning" ? `${due} (warning)` : due;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

/** The priority cell of a session's row: the priority, a picker and a Set button. */
function priorityCell(id) {
  const td = document.createElement("td");
  const select = document.createElement("select");
  select.id = `priority-${id}`;
  select.setAttribute("aria-label", `Priority of session ${short(id)}`);
  for (const p of PRIORITIES) {
    const option = document.createElement("option");
    option.value = p;
    option.textContent = p;
    select.append(option);
  }
  const button = document.createElement("button");
  button.type = "button";
  button.id = `priority-button-${id}`;
  button.textContent = "Set";
  button.setAttribute("aria-label", `Set the priority of session ${short(id)}`);
  button.addEventListener("click", async () => {
    $("board-error").textContent = "";
    try {
      await call("POST", `/api/sessions/${id}/priority`, { priority: select.value });
      $("board-status").textContent = `Session ${short(id)} is now ${select.value} priority`;
      await refresh();
    } catch (error) {
      $("board-error").textContent = error.message;
    }
  });
  const aged = document.createElement("span");
  aged.className = "aged";
  const controls = document.createElement("div");
  controls.className = "assign";
  controls.append(select, button, aged);
  td.append(controls);
  return td;
}

/** A new row for a session: its cells and the assign controls. */
function sessionRow(id) {
  const tr = document.createElement("tr");
  tr.dataset.session = id;
  for (let i = 0; i < 6; i++) cell(tr, "");
  tr.append(priorityCell(id));
  const td = cell(tr, "");
  const select = document.createElement("select");
  select.id = `assign-${id}`;
  select.setAttribute("aria-label", `Operator for session ${short(id)}`);
  const button = document.createElement("button");
  button.type = "button";
  button.id = `assign-button-${id}`;
  button.textContent = "Assign";
  button.setAttribute("aria-label", `Assign session ${short(id)}`);
  button.addEventListener("click", async () => {
    $("board-error").textContent = "";
    try {
      await call("POST", `/api/sessions/${id}/assign`, { operator: select.value });
      $("board-status").textContent = `Session ${short(id)} assigned to ${select.value}`;
      await refresh();
    } catch (error) {
      $("board-error").textContent = error.message;
    }
  });
  const controls = document.createElement("div");
  controls.className = "assign";
  controls.append(select, button);
  td.append(controls);
  return tr;
}

/**
 * Shows `overview` in its row, in place: the row's select and button stay
 * the same elements, so a live update never takes the keyboard focus or
 * the picked operator away from someone using them.
 */
function showSession(tr, overview, operators, aging) {
  const session = overview.session;
  const priority = session.priority || "normal";
  const picker = tr.querySelector(`#priority-${CSS.escape(session.id)}`);
  // The picker follows the stored priority only when it changed, so a
  // live update never undoes a pick in progress.
  if (tr.dataset.priority !== priority) {
    tr.dataset.priority = priority;
    picker.value = priority;
  }
  const now = effective(session, aging);
  const aged = tr.querySelector(".aged");
  const note = now !== priority ? `now ${now} by waiting` : "";
  if (aged.textContent !== note) aged.textContent = note;
  const texts = [
    short(session.id),
    session.status.state,
    session.status.operator || "—",
    waited(overview.waiting_since),
    why(session.reason),
    sla(overview.sla_state),
  ];
  texts.forEach((text, i) => {
    if (tr.cells[i].textContent !== text) tr.cells[i].textContent = text;
  });
  const select = tr.querySelector(`#assign-${CSS.escape(session.id)}`);
  const wanted = operators
    .filter((op) => op.member)
    .map((op) => ({ value: op.user, text: `${op.user} (${op.availability}, ${op.load})`, disabled: op.availability !== "present" }));
  const same =
    select.options.length === wanted.length &&
    wanted.every((w, i) => {
      const o = select.options[i];
      return o.value === w.value && o.textContent === w.text && o.disabled === w.disabled;
    });
  if (same) return;
  const picked = select.value;
  select.replaceChildren(
    ...wanted.map((w) => {
      const option = document.createElement("option");
      option.value = w.value;
      option.textContent = w.text;
      option.disabled = w.disabled;
      return option;
    }),
  );
  if (wanted.some((w) => w.value === picked && !w.disabled)) select.value = picked;
}

/** Makes `parent`'s children exactly `rows`, in order, moving only what is out of place. */
function place(parent, rows) {
  rows.forEach((row, i) => {
    if (parent.children[i] !== row) parent.insertBefore(row, parent.children[i] || null);
  });
  while (parent.children.length > rows.length) parent.lastElementChild.remove();
}

function operatorRow(op) {
  const tr = document.createElement("tr");
  tr.dataset.operator = op.user;
  cell(tr, op.user);
  cell(tr, op.member ? op.availability : `${op.availability} (left the group)`);
  cell(tr, op.eligible ? "yes" : op.away ? `no: away after ${op.no_answer} missed` : "no");
  cell(tr, String(op.load));
  return tr;
}

/** Reads the shown line's board again. */
export async function refresh() {
  if (!call || !line) return;
  const shown = line;
  let board;
  try {
    board = await call("GET", `/api/board/lines/${shown}`);
  } catch (error) {
    $("board-error").textContent = error.message;
    return;
  }
  if (shown !== line) return;
  // Rows are updated in place (see showSession); only rows of sessions
  // that left the board are removed.
  const sessions = $("board-sessions");
  const existing = new Map();
  for (const tr of sessions.querySelectorAll("tr[data-session]")) existing.set(tr.dataset.session, tr);
  const rows = board.sessions.map((o) => {
    const tr = existing.get(o.session.id) || sessionRow(o.session.id);
    showSession(tr, o, board.operators, board.priority_aging_secs);
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(tr, "No open sessions");
    td.colSpan = 8;
    td.className = "empty";
    rows.push(tr);
  }
  place(sessions, rows);
  const operators = $("board-operators");
  operators.replaceChildren();
  for (const op of board.operators) operators.append(operatorRow(op));
}

/** Shows the board when the user supervises a line. */
export async function start(api) {
  call = api;
  lines = await call("GET", "/api/board/lines");
  $("board").hidden = lines.length === 0;
  if (lines.length === 0) return;
  const select = $("board-line");
  select.replaceChildren();
  for (const l of lines) {
    const option = document.createElement("option");
    option.value = l.id;
    option.textContent = l.name;
    select.append(option);
  }
  line = lines[0].id;
  await refresh();
}

/** Hides the board (signed out). */
export function stop() {
  call = null;
  line = null;
  lines = [];
  $("board").hidden = true;
}

$("board-line").addEventListener("change", (e) => {
  line = e.target.value;
  refresh();
});
