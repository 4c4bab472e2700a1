// Scenario 4: a supervisor raises a queued session's priority and assigns
// it to an operator from the line board; the operator, signed in in another browser context,
// sees it appear in their list without reload. The supervisor's board
// works at 360 px wide and by keyboard.
//
// Inputs (env): CHATLINES_BASE, CHATLINES_SUPERVISOR,
// CHATLINES_SUPERVISOR_PASSWORD, CHATLINES_OPERATOR,
// CHATLINES_OPERATOR_PASSWORD, CHATLINES_SESSION (a queued session).

import { check, input, openConsole, run, signIn } from "./lib.mjs";

const base = input("CHATLINES_BASE");
const supervisor = input("CHATLINES_SUPERVISOR");
const supervisorPassword = input("CHATLINES_SUPERVISOR_PASSWORD");
const operator = input("CHATLINES_OPERATOR");
const operatorPassword = input("CHATLINES_OPERATOR_PASSWORD");
const session = input("CHATLINES_SESSION");

await run("board", async (browser, watch) => {
  const op = (await openConsole(browser, base, watch)).page;
  await signIn(op, operator, operatorPassword);
  await op.locator("#live.on").waitFor();
  check((await op.locator(`#assigned li[data-session="${session}"]`).count()) === 0, "not the operator's yet");
  check(await op.locator("#board").isHidden(), "an operator has no board");

  const sup = (await openConsole(browser, base, watch, { width: 360, height: 740 })).page;
  await signIn(sup, supervisor, supervisorPassword);
  const row = sup.locator(`#board-sessions tr[data-session="${session}"]`);
  await row.waitFor();
  check((await row.locator("td").nth(1).textContent()) === "queued", "the session should be queued");
  const reason = await row.locator("td").nth(4).textContent();
  check(reason === "no operator available", `the board should say why it waits, not ${reason}`);
  await sup.locator(`#board-operators tr[data-operator="${operator}"]`).waitFor();

  // The priority: shown in its column, and set from the board.
  const priority = sup.getByLabel(`Priority of session ${session.slice(-8)}`, { exact: true });
  check((await priority.inputValue()) === "normal", "a new session is of normal priority");
  await priority.selectOption("high");
  await sup.getByRole("button", { name: `Set the priority of session ${session.slice(-8)}` }).click();
  await sup.locator("#board-status", { hasText: "is now high priority" }).waitFor();
  check((await priority.inputValue()) === "high", "the board shows the new priority");

  // By keyboard: pick the operator, then press the Assign button.
  const select = sup.getByLabel(`Operator for session ${session.slice(-8)}`);
  await select.focus();
  await select.selectOption(operator);
  await sup.keyboard.press("Tab");
  const assign = sup.getByRole("button", { name: `Assign session ${session.slice(-8)}` });
  // Like Playwright's toBeFocused: the focus may move a moment after the key.
  const reached = await assign
    .evaluate(
      (el) =>
        new Promise((resolve) => {
          const until = Date.now() + 2000;
          const poll = () => {
            if (el === document.activeElement) resolve("");
            else if (Date.now() > until) resolve(document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : "nothing");
            else requestAnimationFrame(poll);
          };
          poll();
        }),
    );
  check(reached === "", `Tab should reach the Assign button; the focus is on ${reached}`);
  await sup.keyboard.press("Enter");
  await sup.locator("#board-status", { hasText: `assigned to ${operator}` }).waitFor();
  await row.locator("td", { hasText: operator }).first().waitFor();

  // Live on the operator's side.
  await op.locator(`#assigned li[data-session="${session}"]`).waitFor();
  const width = await sup.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 360, `the board page is ${width} px wide at a 360 px viewport`);
});
