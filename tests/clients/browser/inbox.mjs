// The development inbox page in headless Chromium, two tabs of one user, against a real fleet
// (tests/clients/test_inbox_browser.py starts it and passes its addresses):
// a notification arrives live; the tabs' gateway node is SIGKILLed and they reconnect to the
// other node and catch up without showing anything twice; a read in one tab shows in the other.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

const env = process.env;
const page = env.NOTIFY_PAGE;
const pids = Object.fromEntries(env.NOTIFY_GATEWAY_PIDS.split(",").map((kv) => kv.split("=")));
const user = `web-${randomUUID().slice(0, 8)}`;
const STEP_MS = 15_000;

async function publish(title, body) {
  const id = `n-${randomUUID()}`;
  const resp = await fetch(`${env.NOTIFY_ROUTER}/v1/events`, {
    method: "POST",
    headers: { Authorization: `Bearer ${env.NOTIFY_SERVICE_TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ id, type: "order.update", audience: { kind: "users", ids: [user] }, title, body }),
  });
  assert.equal(resp.status, 202, await resp.text());
  return id;
}

const item = (tab, id) => tab.locator(`#items li[data-id="${id}"]`);
const badge = (tab) => tab.locator("#badge");

async function expectText(locator, text) {
  await locator.filter({ hasText: text }).first().waitFor({ timeout: STEP_MS });
}

async function nodeOf(tab) {
  await tab.locator("#state.open").waitFor({ timeout: STEP_MS });
  return (await tab.locator("#node").textContent()).replace(/^on /, "");
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  // Root in a container has no user namespaces for Chromium's sandbox.
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const started = Date.now();
try {
  const context = await browser.newContext({ viewport: { width: 980, height: 640 } });
  const [first, second] = [await context.newPage(), await context.newPage()];
  const errors = [];
  for (const tab of [first, second]) tab.on("pageerror", (err) => errors.push(String(err)));
  // Older notifications, read from the inbox API when the page opens (its first page holds ten;
  // catch-up replays all eleven, and the oldest must not jump to the top).
  const oldest = await publish("Earlier update 1", "Older than the first page.");
  for (let i = 2; i <= 9; i++) await publish(`Earlier update ${i}`, "From the inbox API.");
  await publish("Welcome to the inbox", "Notifications arrive here live.");
  await publish("Your order was confirmed", "Order 1234: 2 items.");
  const url = `${page}?user=${user}&roles=customer`;
  await Promise.all([first.goto(url), second.goto(url)]);
  const nodeBefore = await nodeOf(first);
  await nodeOf(second);
  await expectText(badge(first), "11");

  // 1. Live.
  const live = await publish("Your order shipped", "Arriving Tuesday.");
  await item(first, live).waitFor({ timeout: STEP_MS });
  await item(second, live).waitFor({ timeout: STEP_MS });
  await expectText(badge(first), "12");

  // 2. The node both tabs are on is killed: they move to the other node and catch up.
  process.kill(Number(pids[nodeBefore]), "SIGKILL");
  const missed = await publish("Driver is nearby", "About 5 minutes away.");
  for (const tab of [first, second]) {
    await tab.waitForFunction((gone) => !document.querySelector("#node").textContent.includes(gone), nodeBefore, {
      timeout: STEP_MS,
    });
    const nodeAfter = await nodeOf(tab);
    assert.notEqual(nodeAfter, nodeBefore);
    await item(tab, missed).waitFor({ timeout: STEP_MS });
  }
  for (const tab of [first, second]) {
    const ids = await tab.locator("#items li").evaluateAll((lis) => lis.map((li) => li.dataset.id));
    assert.equal(new Set(ids).size, ids.length, `an item is shown twice: ${ids}`);
    assert.equal(ids.length, 12);
    assert.equal(ids[0], missed);
    assert.ok(!ids.includes(oldest), "an item of an older page was shown");
  }
  await expectText(badge(second), "13");

  // 3. Read in one tab, shown in the other (through the server's inbox.read).
  await item(first, live).locator("button.read").click();
  await item(second, live).and(second.locator("li.read")).waitFor({ timeout: STEP_MS });
  await expectText(badge(second), "12");
  await item(first, missed).waitFor({ timeout: STEP_MS });
  await first.locator("#presence").filter({ hasText: "online" }).waitFor({ timeout: STEP_MS });
  await first.locator("#register").click();
  await first.locator("#devices li").filter({ hasText: "web" }).waitFor({ timeout: STEP_MS });
  if (env.SCREENSHOT) await first.screenshot({ path: env.SCREENSHOT });

  await second.locator("#read-all").click();
  await expectText(badge(first), "0");
  assert.equal(await first.locator("#items li.unread").count(), 0);
  assert.deepEqual(errors, []);
  console.log(`inbox page passed in ${Date.now() - started} ms (killed ${nodeBefore})`);
} finally {
  await browser.close();
}
