// Scenario 5: a wrong password, a missing CSRF token, another operator's
// session and an expired session are refused, in the browser against the
// real server; the Rust test checks afterwards that nothing changed.
//
// Inputs (env): CHATLINES_BASE, CHATLINES_USER, CHATLINES_PASSWORD,
// CHATLINES_OFFERED (a session offered to the user), CHATLINES_OTHERS (a
// session assigned to another operator). Asks the test to
// `expire-sessions` (move the server's clock past the session lifetime).

import { ask, check, input, openConsole, run, signIn } from "./lib.mjs";

const base = input("CHATLINES_BASE");
const user = input("CHATLINES_USER");
const password = input("CHATLINES_PASSWORD");
const offered = input("CHATLINES_OFFERED");
const others = input("CHATLINES_OTHERS");

/** A request from the page (same origin, its cookie); the status and body. */
async function call(page, method, path, headers = {}, body = undefined) {
  return page.evaluate(
    async ([method, path, headers, body]) => {
      const r = await fetch(path, {
        method,
        headers: { "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    },
    [method, path, headers, body],
  );
}

await run("refusals", async (browser, watch) => {
  const { page } = await openConsole(browser, base, watch);

  // Wrong password: refused, still signed out.
  watch.expectRefusal(401, /\/api\/auth\/sign-in$/);
  await page.getByLabel("User").fill(user);
  await page.getByLabel("Password").fill(`${password}-wrong`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#sign-in-error", { hasText: "Wrong user or password" }).waitFor();
  check(await page.locator("#desk").isHidden(), "the desk must stay hidden");
  const me = await call(page, "GET", "/api/auth/me");
  check(me.status === 200 && me.body.signed_in === false, `me after a wrong password: ${JSON.stringify(me)}`);

  await signIn(page, user, password);
  const token = (await call(page, "GET", "/api/auth/me")).body.csrf_token;
  check(typeof token === "string" && token.length > 0, "me gives the CSRF token");

  // No CSRF token, or a forged one: 403.
  watch.expectRefusal(403, /\/take$/);
  let r = await call(page, "POST", `/api/sessions/${offered}/take`, {}, {});
  check(r.status === 403 && /CSRF/.test(r.body.error), `take without CSRF: ${JSON.stringify(r)}`);
  watch.expectRefusal(403, /\/take$/);
  r = await call(page, "POST", `/api/sessions/${offered}/take`, { "x-csrf-token": "forged" }, {});
  check(r.status === 403, `take with a forged CSRF token: ${JSON.stringify(r)}`);

  // Another operator's session: reply and close are refused even with the token.
  watch.expectRefusal(403, /\/reply$/);
  r = await call(page, "POST", `/api/sessions/${others}/reply`, { "x-csrf-token": token }, { text: "not mine" });
  check(r.status === 403, `reply to another's session: ${JSON.stringify(r)}`);
  watch.expectRefusal(403, /\/close$/);
  r = await call(page, "POST", `/api/sessions/${others}/close`, { "x-csrf-token": token }, {});
  check(r.status === 403, `close another's session: ${JSON.stringify(r)}`);

  // The console still shows the offered session as offered.
  await page.locator(`#offered li[data-session="${offered}"] button`).click();
  await page.locator("#session-status", { hasText: "offered" }).waitFor();
  await page.locator("#account-state", { hasText: "Not linked" }).waitFor();

  // The session expires: the API refuses the cookie, the page asks to sign in.
  check((await ask("expire-sessions")) === "ok", "the test could not move the clock");
  watch.expectRefusal(401, /\/api\/sessions\/offered$/);
  r = await call(page, "GET", "/api/sessions/offered");
  check(r.status === 401 && /expired/.test(r.body.error), `an expired session: ${JSON.stringify(r)}`);
  await page.reload();
  await page.locator("#sign-in:not([hidden])").waitFor();
  check(await page.locator("#desk").isHidden(), "the desk must be hidden after expiry");
});
