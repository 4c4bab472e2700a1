// Scenario 1: an operator signs in; a Telegram update arrives at the
// server's webhook; the session appears without reload; the operator
// opens it, takes it and replies, then sends a file with a caption (at
// 360 px wide, by keyboard and clicks).
//
// Inputs (env): CHATLINES_BASE, CHATLINES_USER, CHATLINES_PASSWORD,
// CHATLINES_WEBHOOK (the Telegram source's URL), CHATLINES_TG_SECRET,
// CHATLINES_CLIENT_TEXT, CHATLINES_REPLY_TEXT.

import { check, input, openConsole, run, signIn } from "./lib.mjs";

const base = input("CHATLINES_BASE");
const user = input("CHATLINES_USER");
const password = input("CHATLINES_PASSWORD");
const webhook = input("CHATLINES_WEBHOOK");
const secret = input("CHATLINES_TG_SECRET");
const clientText = input("CHATLINES_CLIENT_TEXT");
const replyText = input("CHATLINES_REPLY_TEXT");

await run("take-and-reply", async (browser, watch) => {
  const { page } = await openConsole(browser, base, watch, { width: 360, height: 740 });
  await signIn(page, user, password);
  // The live stream is open before the update comes in.
  await page.locator("#live.on").waitFor();
  await page.locator("#offered .empty").waitFor();

  const update = {
    update_id: 9101,
    message: {
      message_id: 11,
      from: { id: 4242, is_bot: false, first_name: "Ann" },
      chat: { id: 4242, type: "private", first_name: "Ann" },
      date: Math.floor(Date.now() / 1000),
      text: clientText,
    },
  };
  const answer = await fetch(webhook, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
    body: JSON.stringify(update),
  });
  check(answer.status === 200, `the webhook answered ${answer.status}`);

  // Without reload: the session shows up in Offered.
  const offered = page.locator("#offered li[data-session] button");
  await offered.first().waitFor();
  check((await offered.count()) === 1, "one session should be offered");
  await offered.first().focus();
  await page.keyboard.press("Enter");
  await page.locator("#messages li.in", { hasText: clientText }).waitFor();

  await page.getByRole("button", { name: "Take", exact: true }).click();
  await page.locator("#assigned li[data-session] button").first().waitFor();
  await page.locator("#offered .empty").waitFor();
  await page.locator("#session-status", { hasText: "yours" }).waitFor();

  await page.getByLabel("Reply").fill(replyText);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.locator("#messages li.out", { hasText: replyText }).waitFor();
  check((await page.getByLabel("Reply").inputValue()) === "", "the reply box should be cleared");

  // A reply the server refuses (text over the 16 KiB limit) is given back.
  const tooLong = "x".repeat(16 * 1024 + 1);
  watch.expectRefusal(422, /\/reply$/);
  await page.getByLabel("Reply").fill(tooLong);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.locator("#session-error", { hasText: "over the limit" }).waitFor();
  check((await page.getByLabel("Reply").inputValue()) === tooLong, "a refused reply should be given back");

  // A file with a caption.
  await page.getByLabel("Reply").fill("Your receipt");
  await page.getByLabel("Attach files").setInputFiles({
    name: "receipt.txt",
    mimeType: "text/plain",
    buffer: Buffer.from("order 17: paid\n"),
  });
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.locator("#messages li.out", { hasText: "receipt.txt" }).waitFor();
  check((await page.getByLabel("Attach files").inputValue()) === "", "the file input should be cleared");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 360, `the page is ${width} px wide at a 360 px viewport`);
});
