// Browser scenario 3: a visitor on /demo writes through the web chat widget;
// the operator answers (through the JSON API, signed in with a password);
// the visitor sees the answer live, without a reload.
//
//   node examples/browser/widget.mjs BASE_URL OPERATOR PASSWORD [VISITOR_TEXT] [REPLY_TEXT]
//
// Prints one JSON line ({"session": ..., "author": ...}) and exits 0, or
// prints what failed and exits 1. Any console error or uncaught error on the
// page is a failure. No fixed waits: every step waits for a selector or a
// response.
import { chromium } from 'playwright-core';

const [base, operator, password, visitorText = 'Hello from the demo shop', replyText = 'Hello, visitor! How can I help?'] =
  process.argv.slice(2);
if (!base || !operator || !password) {
  console.error('usage: widget.mjs BASE_URL OPERATOR PASSWORD [VISITOR_TEXT] [REPLY_TEXT]');
  process.exit(2);
}
const STEP_TIMEOUT = Number(process.env.CHATLINES_BROWSER_TIMEOUT_MS || 20000);

function fail(message) {
  throw new Error(message);
}

// The operator's side, through the JSON API.
async function signIn(user, pass) {
  const r = await fetch(`${base}/api/auth/sign-in`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password: pass }),
  });
  if (r.status !== 200) fail(`sign-in of ${user} answered ${r.status}: ${await r.text()}`);
  const body = await r.json();
  const cookie = (r.headers.get('set-cookie') || '').split(';')[0];
  if (!cookie || !body.csrf_token) fail('sign-in gave no cookie or CSRF token');
  return async (method, path, json) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { cookie, 'x-csrf-token': body.csrf_token, 'content-type': 'application/json' },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    const text = await res.text();
    if (res.status !== 200) fail(`${method} ${path} answered ${res.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHATLINES_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
const problems = [];
let code = 0;
try {
  const context = await browser.newContext({ viewport: { width: 390, height: 780 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

  const loaded = await page.goto(`${base}/demo`);
  if (!loaded || loaded.status() !== 200) fail(`/demo answered ${loaded && loaded.status()}`);
  await page.getByRole('button', { name: 'Demo shop support' }).click();
  const panel = page.locator('.clw-panel');
  await panel.and(page.locator('[data-state="ready"]')).waitFor();

  // The visitor writes with the keyboard and sends with Enter.
  const box = page.getByRole('textbox', { name: 'Your message' });
  await box.click();
  await page.keyboard.type(visitorText);
  const posted = page.waitForResponse((r) => r.url().endsWith('/messages') && r.request().method() === 'POST');
  await page.keyboard.press('Enter');
  const answer = await posted;
  if (answer.status() !== 200) fail(`sending answered ${answer.status()}: ${await answer.text()}`);
  const { session } = await answer.json();
  await page.locator('.clw-msg[data-from="visitor"]', { hasText: visitorText }).waitFor();

  // The operator takes the session and answers.
  const api = await signIn(operator, password);
  const offered = await api('GET', '/api/sessions/offered');
  if (!offered.items.some((s) => s.id === session)) {
    fail(`session ${session} is not offered to ${operator}: ${JSON.stringify(offered)}`);
  }
  await api('POST', `/api/sessions/${session}/take`);
  await api('POST', `/api/sessions/${session}/reply`, { text: replyText });

  // The visitor sees it live.
  const reply = page.locator('.clw-msg[data-from="line"]', { hasText: replyText });
  await reply.waitFor();
  const author = (await reply.locator('.clw-author').textContent()) || '';
  if ((await box.inputValue()) !== '') fail('the message box was not emptied after sending');
  if (problems.length) fail(problems.join('\n'));
  console.log(JSON.stringify({ session, author }));
} catch (e) {
  console.error(`widget scenario failed: ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
