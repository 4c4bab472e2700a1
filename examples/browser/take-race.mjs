// Scenario 2: two operators in two browser contexts take the same session
// at once: one wins (the session is theirs), the other sees "already
// taken".
//
// Inputs (env): CHATLINES_BASE, CHATLINES_USER_A, CHATLINES_USER_B,
// CHATLINES_PASSWORD_A, CHATLINES_PASSWORD_B, CHATLINES_SESSION (the
// offered session's id).

import { check, input, openConsole, run, signIn } from "./lib.mjs";

const base = input("CHATLINES_BASE");
const users = [
  [input("CHATLINES_USER_A"), input("CHATLINES_PASSWORD_A")],
  [input("CHATLINES_USER_B"), input("CHATLINES_PASSWORD_B")],
];
const session = input("CHATLINES_SESSION");

await run("take-race", async (browser, watch) => {
  const pages = [];
  for (const [user, password] of users) {
    const { page } = await openConsole(browser, base, watch);
    await signIn(page, user, password);
    await page.locator(`#offered li[data-session="${session}"] button`).click();
    await page.locator("#session-status", { hasText: "offered" }).waitFor();
    pages.push(page);
  }
  // The loser's take is refused with 409 (Chromium logs it).
  watch.expectRefusal(409, /\/take$/);
  const takes = pages.map((p) => p.getByRole("button", { name: "Take", exact: true }));
  await Promise.all(takes.map((t) => t.click()));

  const outcome = async (page) => {
    const won = page.locator(`#assigned li[data-session="${session}"]`);
    const lost = page.locator("#session-error", { hasText: "Already taken" });
    await won.or(lost).first().waitFor();
    return (await lost.count()) > 0 ? "lost" : "won";
  };
  const outcomes = await Promise.all(pages.map(outcome));
  check(
    outcomes.filter((o) => o === "won").length === 1 && outcomes.includes("lost"),
    `expected one winner and one "already taken", got ${outcomes.join(", ")}`,
  );
  const loser = pages[outcomes.indexOf("lost")];
  const winner = users[outcomes.indexOf("won")][0];
  await loser.locator("#session-taken", { hasText: `Already taken by ${winner}` }).waitFor();
  check(
    (await loser.locator(`#assigned li[data-session="${session}"]`).count()) === 0,
    "the loser must not have the session",
  );
  console.log(`winner: ${winner}`);
});
