// Shared helpers of the browser scenarios: launching Debian's Chromium
// through playwright-core, failing on console and page errors, signing in
// through the console, and talking to the Rust test that runs the script.

import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

/** Where Chromium is (Debian's package); CHATLINES_CHROMIUM overrides. */
export const CHROMIUM = process.env.CHATLINES_CHROMIUM || "/usr/bin/chromium";

/** How long any single wait may take before the scenario fails. */
export const TIMEOUT_MS = Number(process.env.CHATLINES_BROWSER_TIMEOUT_MS || 20000);

/** Fails the scenario with a clear message. */
export class ScenarioFailure extends Error {}

/** Asserts `condition`, failing with `message`. */
export function check(condition, message) {
  if (!condition) throw new ScenarioFailure(message);
}

/** A required input: an environment variable. */
export function input(name) {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new ScenarioFailure(`missing input: set ${name}`);
  }
  return value;
}

/** Launches the browser with the harness's flags. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
    ],
  });
}

/**
 * Watches a page: every console error and uncaught page error is recorded,
 * except refusals the scenario announced with `expectRefusal` (Chromium
 * logs every 4xx answer to a fetch as a console error, so a refusal the
 * scenario provokes on purpose must be declared, by status and URL).
 */
export class Watch {
  constructor(name) {
    this.name = name;
    this.errors = [];
    this.expected = [];
  }

  /** Follows `page`'s console and page errors. */
  attach(page) {
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const url = (message.location() && message.location().url) || "";
      const text = message.text();
      const at = this.expected.findIndex(
        (e) => text.includes(`status of ${e.status} `) && e.url.test(url),
      );
      if (at >= 0) {
        this.expected.splice(at, 1);
        return;
      }
      this.errors.push(`${this.name}: console error: ${text} (${url})`);
    });
    page.on("pageerror", (error) => {
      this.errors.push(`${this.name}: uncaught page error: ${error.message}`);
    });
    return page;
  }

  /** Declares one refusal (HTTP `status` from a URL matching `url`) the scenario provokes. */
  expectRefusal(status, url) {
    this.expected.push({ status, url });
  }

  /** Fails when anything unexpected was logged. */
  verify() {
    check(this.errors.length === 0, this.errors.join("\n"));
  }
}

/** A new browser context with a page at `base`/console, watched. */
export async function openConsole(browser, base, watch, viewport) {
  const context = await browser.newContext(viewport ? { viewport } : {});
  const page = watch.attach(await context.newPage());
  await page.goto(`${base}/console`);
  await page.locator("#sign-in:not([hidden]), #desk:not([hidden])").first().waitFor();
  return { context, page };
}

/** Signs in through the form with the keyboard and waits for the desk. */
export async function signIn(page, user, password) {
  await page.getByLabel("User").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Password").press("Enter");
  await page.locator("#desk:not([hidden])").waitFor();
  await page.locator("#who", { hasText: user }).waitFor();
}

let lines = null;

/**
 * Asks the Rust test to do `what` (a line `@@ what` on stdout) and waits
 * for its answer (one line on stdin), e.g. moving the server's clock.
 */
export async function ask(what) {
  if (!lines) {
    const rl = createInterface({ input: process.stdin });
    const queue = [];
    const waiting = [];
    rl.on("line", (line) => (waiting.length ? waiting.shift()(line) : queue.push(line)));
    rl.on("close", () => {
      while (waiting.length) waiting.shift()(null);
    });
    lines = () =>
      queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r));
  }
  process.stdout.write(`@@ ${what}\n`);
  const answer = await lines();
  check(answer !== null, `the test did not answer ${what}`);
  return answer;
}

/** Runs a scenario: `body(browser, watch)`, then the error check; exits non-zero on failure. */
export async function run(name, body) {
  const watch = new Watch(name);
  let browser = null;
  let code = 0;
  const started = Date.now();
  try {
    browser = await launch();
    await body(browser, watch);
    watch.verify();
    console.log(`${name}: ok in ${Date.now() - started} ms`);
  } catch (error) {
    code = 1;
    const extra = watch.errors.length ? `\n${watch.errors.join("\n")}` : "";
    console.error(`${name}: FAILED: ${error instanceof ScenarioFailure ? error.message : error.stack || error}${extra}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  process.exit(code);
}
