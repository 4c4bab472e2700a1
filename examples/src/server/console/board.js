// The supervisor board: for each line the signed-in user supervises, its
// open sessions (queue, offers, assignments) with waiting time, its
// operators with availability and load, and assigning a session to an
// operator. app.js starts it after sign-in and refreshes it on live
// events.

const $ = (id) => document.getElementById(id);

/** A session's short name: the random end of its id (the start is a time). */
const short = (id) => id.slice(-8);

let call = null; // the console's API function
let lines = [];
let line = null; // the shown line's id

/** "4 min", "1 h 5 min": how long since `iso`. */
function waited(iso) {
  if (!iso) return "answered";
  const minutes = Math.max(0, Math.floor((Date.now() - new Date(iso).getTime()) / 60000));
  if (minutes < 1) return "under 1 min";
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function sessionRow(overview, operators) {
  const session = overview.session;
  const tr = document.createElement("tr");
  tr.dataset.session = session.id;
  cell(tr, short(session.id));
  cell(tr, session.status.state);
  cell(tr, session.status.operator || "—");
  cell(tr, waited(overview.waiting_since));
  const td = cell(tr, "");
  const select = document.createElement("select");
  select.id = `assign-${session.id}`;
  select.setAttribute("aria-label", `Operator for session ${short(session.id)}`);
  for (const op of operators) {
    if (!op.member) continue;
    const option = document.createElement("option");
    option.value = op.user;
    option.textContent = `${op.user} (${op.availability}, ${op.load})`;
    option.disabled = op.availability !== "present";
    select.append(option);
  }
  const button = document.createElement("button");
  button.type = "button";
  button.id = `assign-button-${session.id}`;
  button.textContent = "Assign";
  button.setAttribute("aria-label", `Assign session ${short(session.id)}`);
  button.addEventListener("click", async () => {
    $("board-error").textContent = "";
    try {
      await call("POST", `/api/sessions/${session.id}/assign`, { operator: select.value });
      $("board-status").textContent = `Session ${short(session.id)} assigned to ${select.value}`;
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

function operatorRow(op) {
  const tr = document.createElement("tr");
  tr.dataset.operator = op.user;
  cell(tr, op.user);
  cell(tr, op.member ? op.availability : `${op.availability} (left the group)`);
  cell(tr, op.eligible ? "yes" : "no");
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
  // Live updates redraw the tables: keep the picked operators and the
  // keyboard focus.
  const focused = document.activeElement && document.activeElement.closest("#board") ? document.activeElement.id : "";
  const picked = new Map();
  for (const select of document.querySelectorAll("#board-sessions select")) picked.set(select.id, select.value);
  const sessions = $("board-sessions");
  sessions.replaceChildren();
  if (board.sessions.length === 0) {
    const tr = document.createElement("tr");
    const td = cell(tr, "No open sessions");
    td.colSpan = 5;
    td.className = "empty";
    sessions.append(tr);
  }
  for (const o of board.sessions) sessions.append(sessionRow(o, board.operators));
  const operators = $("board-operators");
  operators.replaceChildren();
  for (const op of board.operators) operators.append(operatorRow(op));
  for (const [id, value] of picked) {
    const select = document.getElementById(id);
    if (select && [...select.options].some((o) => o.value === value && !o.disabled)) select.value = value;
  }
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
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
