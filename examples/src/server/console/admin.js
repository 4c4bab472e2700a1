// The administration pages: the lines (create, edit with each validation
// problem shown next to its field, delete) and the messenger accounts bound
// to them (Administration > Extensions > Messengers). Shown only when
// GET /api/admin/access says the signed-in user is an administrator; every
// call is still decided by the server.

const $ = (id) => document.getElementById(id);
const root = $("admin");

/** The settings of a line, in the order the form shows them. */
const FIELDS = [
  "name", "account_app", "request_apps", "clients", "show_operator_name",
  "rule", "responsible_field", "capacity", "operators", "supervisors",
];

const RULES = [
  ["first_come", "First come"],
  ["responsible", "Responsible"],
  ["round_robin", "Round robin"],
  ["least_loaded", "Least loaded"],
];

let csrf = null;
let editing = null; // the line being edited, or null when adding

/** Calls the JSON API; throws an Error carrying status, message, problems. */
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
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (!response.ok) {
    const error = new Error((data && data.error) || response.statusText);
    error.status = response.status;
    error.problems = (data && data.problems) || [];
    throw error;
  }
  return data;
}

/** An element with attributes and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** A labelled field with the place its problems are shown. */
function field(name, label, input, hint) {
  input.id = `admin-${name}`;
  input.name = name;
  const problems = el("ul", { class: "field-problems", id: `admin-${name}-problems`, "aria-live": "polite" });
  const described = [problems.id];
  const wrap = el("div", { class: "field", "data-field": name });
  if (input.type === "checkbox") {
    wrap.append(el("label", { class: "check" }, input, ` ${label}`));
  } else {
    wrap.append(el("label", { for: input.id, text: label }), input);
  }
  if (hint) {
    const h = el("p", { class: "hint", id: `admin-${name}-hint`, text: hint });
    described.unshift(h.id);
    wrap.append(h);
  }
  input.setAttribute("aria-describedby", described.join(" "));
  wrap.append(problems);
  return wrap;
}

function render() {
  const rule = el("select", {});
  for (const [value, label] of RULES) rule.append(el("option", { value, text: label }));

  const form = el("form", { id: "admin-form", class: "admin-form", hidden: true, novalidate: true },
    el("h3", { id: "admin-form-title", tabindex: "-1", text: "New line" }),
    el("p", { class: "error", role: "alert", id: "admin-form-error" }),
    field("name", "Name", el("input", { autocomplete: "off", required: true, maxlength: "200" })),
    el("fieldset", {},
      el("legend", { text: "Applications" }),
      field("account_app", "For account linking", el("input", { autocomplete: "off" }),
        "An application with a field of type Account (empty: none)."),
      field("request_apps", "For registering requests", el("textarea", { rows: "2" }),
        "One application per line; each needs a field of type Account."),
    ),
    el("fieldset", {},
      el("legend", { text: "Clients" }),
      field("clients", "Clients", el("textarea", { rows: "3" }),
        "Internal clients, one per line: user:<id>, group:<id> or unit:<id>. Empty for a line of external clients only."),
      field("show_operator_name", "Display the operator's name (otherwise clients see the line's name)",
        el("input", { type: "checkbox" })),
      el("div", { class: "field", id: "admin-external" },
        el("span", { class: "label", text: "External sources" }),
        el("ul", { id: "admin-external-list", class: "plain" })),
    ),
    el("fieldset", {},
      el("legend", { text: "Employees" }),
      field("rule", "Routing rule", rule),
      field("responsible_field", "Responsible", el("input", { autocomplete: "off" }),
        "A field of type User of the account-linking application."),
      field("capacity", "Capacity", el("input", { type: "number", min: "1", step: "1", inputmode: "numeric" }),
        "The most open sessions per operator."),
      field("operators", "Operators", el("input", { autocomplete: "off", required: true }),
        "The group whose members work the line's requests."),
      field("supervisors", "Supervisors", el("input", { autocomplete: "off" }),
        "The group that moderates the line (empty: none)."),
    ),
    el("div", { class: "actions" },
      el("button", { type: "submit", id: "admin-save", text: "Save" }),
      el("button", { type: "button", id: "admin-cancel", class: "secondary", text: "Cancel" }),
    ),
  );

  root.replaceChildren(
    el("h2", { id: "admin-title", text: "Administration" }),
    el("div", { class: "card" },
      el("div", { class: "admin-head" },
        el("h3", { id: "admin-lines-title", text: "Lines" }),
        el("button", { type: "button", id: "admin-add", text: "+ Add" })),
      el("p", { class: "status", id: "admin-status", role: "status" }),
      el("ul", { id: "admin-lines", class: "admin-list", "aria-labelledby": "admin-lines-title" }),
      form,
    ),
    el("div", { class: "card" },
      el("h3", { id: "admin-sources-title", text: "Messengers" }),
      el("p", { class: "hint", text: "Messenger accounts bound to lines; give each messenger its webhook address." }),
      el("ul", { id: "admin-sources", class: "admin-list", "aria-labelledby": "admin-sources-title" }),
    ),
  );

  $("admin-add").addEventListener("click", () => openForm(null));
  $("admin-cancel").addEventListener("click", closeForm);
  form.addEventListener("submit", save);
  form.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeForm();
  });
  for (const name of ["rule", "account_app", "clients"]) {
    $(`admin-${name}`).addEventListener("input", dependentFields);
  }
}

/** Shows the settings that apply: Responsible needs an account-linking
 * application; the operator-name option appears once Clients is filled. */
function dependentFields() {
  const rule = $("admin-rule").value;
  const hasAccountApp = $("admin-account_app").value.trim() !== "";
  const responsible = $("admin-rule").querySelector('option[value="responsible"]');
  responsible.disabled = !hasAccountApp && rule !== "responsible";
  responsible.textContent = hasAccountApp ? "Responsible" : "Responsible (needs an account-linking application)";
  document.querySelector('[data-field="responsible_field"]').hidden = rule !== "responsible";
  document.querySelector('[data-field="capacity"]').hidden = rule !== "least_loaded";
  document.querySelector('[data-field="show_operator_name"]').hidden = $("admin-clients").value.trim() === "";
}

const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);

function formValue() {
  const value = (name) => $(`admin-${name}`).value.trim();
  const capacity = value("capacity");
  return {
    name: $("admin-name").value,
    account_app: value("account_app") || null,
    request_apps: lines($("admin-request_apps").value),
    clients: lines($("admin-clients").value),
    show_operator_name: $("admin-show_operator_name").checked,
    rule: value("rule"),
    responsible_field: value("responsible_field") || null,
    capacity: capacity === "" ? null : Number(capacity),
    operators: value("operators") || null,
    supervisors: value("supervisors") || null,
  };
}

function clearProblems() {
  $("admin-form-error").textContent = "";
  for (const name of FIELDS) {
    $(`admin-${name}-problems`).replaceChildren();
    $(`admin-${name}`).removeAttribute("aria-invalid");
  }
}

/** Shows each problem next to its field; problems of no known field (or of
 * a hidden one) go to the form's message. Focuses the first bad field. */
function showProblems(error) {
  clearProblems();
  const general = [];
  let first = null;
  for (const p of error.problems) {
    const input = $(`admin-${p.field}`);
    const wrap = input && input.closest(".field");
    if (!input || (wrap && wrap.hidden)) {
      general.push(`${p.field}: ${p.problem}`);
      continue;
    }
    // Next to its field a problem need not name the field again.
    const text = p.problem.startsWith(`${p.field}: `) ? p.problem.slice(p.field.length + 2) : p.problem;
    $(`admin-${p.field}-problems`).append(el("li", { text }));
    input.setAttribute("aria-invalid", "true");
    if (!first) first = input;
  }
  if (error.problems.length === 0) general.push(error.message);
  $("admin-form-error").textContent = error.status === 409
    ? `The line changed meanwhile; reopen it to edit the current version. (${error.message})`
    : general.join("; ") || "Correct the fields marked below.";
  (first || $("admin-form-title")).focus();
}

function openForm(line) {
  editing = line;
  const form = $("admin-form");
  form.reset();
  clearProblems();
  $("admin-form-title").textContent = line ? `Edit line ${line.name}` : "New line";
  if (line) {
    $("admin-name").value = line.name;
    $("admin-account_app").value = line.account_app || "";
    $("admin-request_apps").value = line.request_apps.join("\n");
    $("admin-clients").value = line.clients.join("\n");
    $("admin-show_operator_name").checked = line.show_operator_name;
    $("admin-rule").value = line.rule;
    $("admin-responsible_field").value = line.responsible_field || "";
    $("admin-capacity").value = line.capacity ?? "";
    $("admin-operators").value = line.operators || "";
    $("admin-supervisors").value = line.supervisors || "";
  } else {
    $("admin-rule").value = "first_come";
  }
  const external = $("admin-external-list");
  external.replaceChildren();
  const sources = line ? line.sources : [];
  if (sources.length === 0) external.append(el("li", { class: "empty", text: "None bound" }));
  for (const s of sources) external.append(el("li", { text: `${s.kind}: ${s.name}` }));
  $("admin-external").hidden = !line;
  dependentFields();
  form.hidden = false;
  $("admin-name").focus();
}

/** Closes the form; focus returns to the line's Edit button (or "+ Add"). */
function closeForm() {
  const wasEditing = editing;
  editing = null;
  $("admin-form").hidden = true;
  focusLine(wasEditing && wasEditing.id);
}

function focusLine(id) {
  const back = id && root.querySelector(`[data-edit="${id}"]`);
  (back || $("admin-add")).focus();
}

async function save(e) {
  e.preventDefault();
  const button = $("admin-save");
  button.disabled = true;
  try {
    const body = formValue();
    let saved;
    if (editing) {
      body.version = editing.version;
      saved = await api("PUT", `/api/admin/lines/${editing.id}`, body);
    } else {
      saved = await api("POST", "/api/admin/lines", body);
    }
    editing = null;
    $("admin-form").hidden = true;
    await refresh();
    $("admin-status").textContent = `Saved line ${saved.name}.`;
    focusLine(saved.id);
  } catch (error) {
    showProblems(error);
  } finally {
    button.disabled = false;
  }
}

async function remove(line) {
  if (!window.confirm(`Delete line ${line.name}? Its messenger accounts are unbound and its open sessions closed.`)) return;
  try {
    await api("DELETE", `/api/admin/lines/${line.id}?version=${line.version}`);
    if (editing && editing.id === line.id) closeForm();
    await refresh();
    $("admin-status").textContent = `Deleted line ${line.name}.`;
  } catch (error) {
    $("admin-status").textContent = error.message;
  }
  $("admin-add").focus();
}

const ruleName = (rule) => (RULES.find(([v]) => v === rule) || [rule, rule])[1];

function lineItem(line) {
  const details = [
    `Rule: ${ruleName(line.rule)}${line.rule === "least_loaded" ? ` (capacity ${line.capacity})` : ""}`,
    `Operators: ${line.operators || "—"}`,
    `Supervisors: ${line.supervisors || "—"}`,
    `Clients: ${line.clients.length ? line.clients.join(", ") : "external only"}`,
    `External sources: ${line.sources.length ? line.sources.map((s) => s.name).join(", ") : "none"}`,
  ];
  const edit = el("button", { type: "button", "data-edit": line.id, class: "secondary", text: "Edit" });
  edit.setAttribute("aria-label", `Edit line ${line.name}`);
  edit.addEventListener("click", () => openForm(line));
  const del = el("button", { type: "button", class: "danger", text: "Delete" });
  del.setAttribute("aria-label", `Delete line ${line.name}`);
  del.addEventListener("click", () => remove(line));
  return el("li", {},
    el("div", { class: "admin-item-head" }, el("strong", { text: line.name }),
      el("span", { class: "actions" }, edit, del)),
    el("ul", { class: "plain details" }, ...details.map((d) => el("li", { text: d }))));
}

function sourceItem(source) {
  const address = `${window.location.origin}${source.webhook}`;
  return el("li", {},
    el("div", { class: "admin-item-head" },
      el("strong", { text: source.name }), el("span", { class: "badge", text: source.kind })),
    el("ul", { class: "plain details" },
      el("li", { text: `Line: ${source.line_name || source.line}` }),
      el("li", { text: `Configuration: ${source.config_ref}` }),
      el("li", {}, "Webhook: ", el("code", { text: address }))));
}

function fill(list, entries, render, emptyText) {
  list.replaceChildren();
  if (entries.length === 0) list.append(el("li", { class: "empty", text: emptyText }));
  for (const entry of entries) list.append(render(entry));
}

async function refresh() {
  const [lineList, sources] = await Promise.all([
    api("GET", "/api/admin/lines"),
    api("GET", "/api/admin/sources"),
  ]);
  fill($("admin-lines"), lineList, lineItem, "No lines yet");
  fill($("admin-sources"), sources, sourceItem, "No messenger accounts bound");
}

/** Shows the pages when the signed-in user is an administrator. */
async function check(signedIn) {
  if (!signedIn) {
    root.hidden = true;
    csrf = null;
    return;
  }
  try {
    const me = await api("GET", "/api/auth/me");
    csrf = me.csrf_token || null;
    const access = await api("GET", "/api/admin/access");
    root.hidden = !access.administrator;
    if (access.administrator) await refresh();
  } catch (error) {
    root.hidden = true;
    if (error.status !== 401) console.warn(error);
  }
}

if (root) {
  render();
  // The console shows its sign-out button exactly while someone is signed
  // in: follow it instead of asking the server on a timer.
  const signOut = $("sign-out");
  let signedIn = null;
  const follow = () => {
    const now = signOut ? !signOut.hidden : false;
    if (now !== signedIn) {
      signedIn = now;
      check(now);
    }
  };
  if (signOut) new MutationObserver(follow).observe(signOut, { attributes: true, attributeFilter: ["hidden"] });
  follow();
}
