// The operator's desk: open a session, take it, "+ Link" the client to a
// new account item, register a request with a request-app button, then
// transfer the session to another operator, who sees it arrive live; the
// session leaves the first operator's list. Keyboard where a person would
// type; the first operator works on a 360 px wide screen.
//
// Inputs (env): CHATLINES_BASE, CHATLINES_USER, CHATLINES_PASSWORD,
// CHATLINES_TO, CHATLINES_TO_PASSWORD (the operator it is transferred
// to), CHATLINES_SESSION (an offered session), CHATLINES_COMPANY,
// CHATLINES_ORDER.

import { check, input, openConsole, run, signIn } from "./lib.mjs";

const base = input("CHATLINES_BASE");
const user = input("CHATLINES_USER");
const password = input("CHATLINES_PASSWORD");
const to = input("CHATLINES_TO");
const toPassword = input("CHATLINES_TO_PASSWORD");
const session = input("CHATLINES_SESSION");
const company = input("CHATLINES_COMPANY");
const order = input("CHATLINES_ORDER");

await run("desk", async (browser, watch) => {
  const { page } = await openConsole(browser, base, watch, { width: 360, height: 780 });
  await signIn(page, user, password);
  const other = (await openConsole(browser, base, watch)).page;
  await signIn(other, to, toPassword);
  await other.locator("#live.on").waitFor();

  await page.locator(`#offered li[data-session="${session}"] button`).click();
  await page.getByRole("button", { name: "Take", exact: true }).click();
  await page.locator("#session-status", { hasText: "yours" }).waitFor();

  // The client block: not linked yet; "+ Link" a new account item.
  await page.locator("#account-state", { hasText: "Not linked" }).waitFor();
  await page.getByRole("button", { name: "+ Link" }).click();
  await page.getByLabel("Company").fill(company);
  await page.getByLabel("Company").press("Enter");
  await page.locator("#account-state", { hasText: "Linked: Account" }).waitFor();
  check(await page.locator("#link-form").isHidden(), "the link form should close");

  // A request-app button.
  await page.getByRole("button", { name: "New Order" }).click();
  await page.getByLabel("Order number").fill(order);
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#requests li", { hasText: "orders" }).waitFor();

  // Transfer to the other operator, chosen from the line's operators with
  // the keyboard: it leaves this list and appears in theirs.
  const choose = page.getByLabel("Transfer to operator");
  await choose.locator(`option[value="${to}"]`).waitFor({ state: "attached" });
  const fits = await page.evaluate(() => {
    const form = document.getElementById("transfer").getBoundingClientRect();
    return form.right <= window.innerWidth && document.documentElement.scrollWidth <= window.innerWidth;
  });
  check(fits, "the transfer control should fit a 360 px screen");
  check(
    (await choose.locator(`option[value="${user}"]`).count()) === 0,
    "the list should not offer the session's own operator",
  );
  await choose.selectOption(to);
  await choose.press("Tab");
  check(
    await page.getByRole("button", { name: "Transfer", exact: true }).evaluate((b) => b === document.activeElement),
    "Tab should move from the list to the Transfer button",
  );
  await page.keyboard.press("Enter");
  await page.locator(`#assigned li[data-session="${session}"]`).waitFor({ state: "detached" });
  await page.locator("#session-taken", { hasText: `Already taken by ${to}` }).waitFor();
  await other.locator(`#assigned li[data-session="${session}"]`).waitFor();

  // The new operator returns it to the queue: offered to both again.
  await other.locator(`#assigned li[data-session="${session}"] button`).click();
  await other.locator("#account-state", { hasText: "Linked: Account" }).waitFor();
  await other.getByRole("button", { name: "Return to queue" }).click();
  await other.locator(`#offered li[data-session="${session}"]`).waitFor();
  await page.locator(`#offered li[data-session="${session}"]`).waitFor();
});
