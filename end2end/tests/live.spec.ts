import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { hydrated, logInInBrowser, PASSWORD, uniqueEmail } from "./helpers";

async function signUp(request: APIRequestContext, role: "owner" | "customer", shop?: string) {
  const email = uniqueEmail(`live-${role}`);
  const res = await request.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: role === "owner" ? "Live Owner" : "Live Customer", role, shop_name: shop },
  });
  expect(res.status()).toBe(201);
  const token = await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } });
  expect(token.status()).toBe(200);
  return { email, token: (await token.json()).access_token as string };
}

/** A coupon of the owner's, made through the API (its JSON). */
async function couponOf(request: APIRequestContext, owner: { token: string }, data: { name: string; price: number; stock: number }) {
  return (await request.post("/api/v1/coupons", { data, headers: { Authorization: `Bearer ${owner.token}` } })).json();
}

/** One unit of the coupon bought through the API, with a key of its own. */
async function buyOne(request: APIRequestContext, buyer: { token: string }, couponId: string) {
  return request.post("/api/v1/orders", {
    data: { coupon_id: couponId, quantity: 1 },
    headers: { Authorization: `Bearer ${buyer.token}`, "Idempotency-Key": `live-${Date.now()}-${Math.random()}` },
  });
}

/** Marks the page, to tell later that it was never reloaded. */
async function mark(page: Page) {
  await page.evaluate(() => ((window as unknown as { __notReloaded: boolean }).__notReloaded = true));
}

async function notReloaded(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { __notReloaded?: boolean }).__notReloaded)).toBe(true);
}

test("the last unit sold in one browser flips the others to sold out, and the owner's bell rings", async ({ browser, request }) => {
  const name = `Live Croissant ${Date.now()}`;
  const owner = await signUp(request, "owner", "Live Bakery");
  const created = await request.post("/api/v1/coupons", {
    data: { name, description: "One left", price: 3500, stock: 1 },
    headers: { Authorization: `Bearer ${owner.token}` },
  });
  expect(created.status()).toBe(201);
  const coupon = await created.json();
  const buyer = await signUp(request, "customer");
  const watcher = await signUp(request, "customer");

  const buyerContext = await browser.newContext();
  const watcherContext = await browser.newContext();
  const ownerContext = await browser.newContext();
  try {
    // The watcher looks at the coupon page (buy box open) and at the catalogue.
    const watching = await watcherContext.newPage();
    await logInInBrowser(watching, watcher.email);
    await expect(watching.getByTestId("current-user")).toBeVisible();
    await watching.goto(`/coupons/${coupon.id}`);
    await hydrated(watching);
    await expect(watching.getByTestId("coupon-stock")).toHaveText("1");
    await expect(watching.getByTestId("buy-form")).toBeVisible();
    await mark(watching);
    const catalogue = await watcherContext.newPage();
    await catalogue.goto("/");
    await hydrated(catalogue);
    const card = catalogue.getByTestId("coupon-card").filter({ hasText: name });
    await expect(card.getByTestId("coupon-stock")).toHaveText("1");
    await mark(catalogue);

    // The owner watches the dashboard.
    const dashboard = await ownerContext.newPage();
    await logInInBrowser(dashboard, owner.email);
    await expect(dashboard.getByTestId("current-user")).toBeVisible();
    await dashboard.goto("/owner/dashboard");
    await hydrated(dashboard);
    const stats = dashboard.getByTestId("coupon-stats-row").filter({ hasText: name });
    await expect(stats.getByTestId("stat-stock")).toHaveText("1");
    await expect(dashboard.getByTestId("bell-count")).toHaveText("0");
    await mark(dashboard);

    // The buyer takes the last unit.
    const buying = await buyerContext.newPage();
    await logInInBrowser(buying, buyer.email);
    await expect(buying.getByTestId("current-user")).toBeVisible();
    await buying.goto(`/coupons/${coupon.id}`);
    await hydrated(buying);
    await buying.getByTestId("buy-submit").click();
    await expect(buying).toHaveURL(/\/mypage$/);

    // Everyone else sees it without a reload.
    await expect(watching.getByTestId("badge-sold-out")).toBeVisible();
    await expect(watching.getByTestId("coupon-stock")).toHaveText("0");
    await expect(watching.getByTestId("buy-form")).toHaveCount(0);
    await notReloaded(watching);
    await expect(card.getByTestId("badge-sold-out")).toBeVisible();
    await expect(card.getByTestId("coupon-stock")).toHaveText("0");
    await notReloaded(catalogue);
    await expect(stats.getByTestId("stat-stock")).toHaveText("0");
    await expect(dashboard.getByTestId("bell-count")).toHaveText("1");
    // The other figures are read again a moment later.
    await expect(stats.getByTestId("stat-sold")).toHaveText("1");
    await expect(dashboard.getByTestId("recent-order").filter({ hasText: name })).toHaveCount(1);
    await notReloaded(dashboard);

    // The buyer's own page follows the payment (no polling: the notification stream).
    const row = buying.getByTestId("order-row").filter({ hasText: name });
    await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "paid");
    await expect(buying.getByTestId("bell-count")).toHaveText("1");

    // The owner reads it on the notifications page and marks it read.
    await dashboard.getByTestId("nav-bell").click();
    await expect(dashboard).toHaveURL(/\/notifications$/);
    const item = dashboard.getByTestId("notification").filter({ hasText: name });
    await expect(item).toHaveAttribute("data-kind", "sold_out");
    await expect(item.getByTestId("notification-text")).toContainText("3,500원");
    await item.getByTestId("mark-read").click();
    await expect(item).toHaveAttribute("data-read", "true");
    await expect(dashboard.getByTestId("bell-count")).toHaveText("0");
    await expect(item.getByTestId("notification-link")).toHaveAttribute("href", `/coupons/${coupon.id}`);

    // What happens while the page is open shows up on it, without a reload.
    await mark(dashboard);
    const mine = await (await request.get("/api/v1/mypage", { headers: { Authorization: `Bearer ${buyer.token}` } })).json();
    const order = mine.items.find((o: { coupon_id: string }) => o.coupon_id === coupon.id);
    const cancelled = await request.post(`/api/v1/orders/${order.order_id}/cancel`, {
      headers: { Authorization: `Bearer ${buyer.token}` },
    });
    expect(cancelled.status()).toBe(200);
    await expect(
      dashboard.locator('[data-testid="notification"][data-kind="order_cancelled"]').filter({ hasText: name }),
    ).toHaveCount(1);
    await expect(dashboard.getByTestId("bell-count")).toHaveText("1");
    await notReloaded(dashboard);
  } finally {
    await Promise.all([buyerContext.close(), watcherContext.close(), ownerContext.close()]);
  }
});

test("the dashboard read again and again keeps one set of live figures", async ({ browser, request }) => {
  const name = `Live Refresh ${Date.now()}`;
  const owner = await signUp(request, "owner", "Refresh Bakery");
  const coupon = await couponOf(request, owner, { name, price: 1000, stock: 10 });
  const context = await browser.newContext();
  try {
    const dashboard = await context.newPage();
    await logInInBrowser(dashboard, owner.email);
    await expect(dashboard.getByTestId("current-user")).toBeVisible();
    await dashboard.goto("/owner/dashboard");
    await hydrated(dashboard);
    await mark(dashboard);
    const stats = dashboard.getByTestId("coupon-stats-row").filter({ hasText: name });
    const follows = () => dashboard.evaluate(() => Number(document.body.dataset.liveFollows));
    await expect.poll(follows).toBeGreaterThan(0);
    const counts: number[] = [];
    for (let sold = 1; sold <= 3; sold++) {
      const buyer = await signUp(request, "customer");
      const bought = await buyOne(request, buyer, coupon.id);
      expect(bought.status()).toBe(201);
      // Each sale reads the figures again (the stock cell moves first, live).
      await expect(stats.getByTestId("stat-stock")).toHaveText(String(10 - sold));
      await expect(stats.getByTestId("stat-sold")).toHaveText(String(sold), { timeout: 10_000 });
      await expect(dashboard.locator("body[data-hydrated]")).toHaveCount(1);
      counts.push(await follows());
    }
    await notReloaded(dashboard);
    // The islands of the page as first served stay (the island script owns them); each
    // refresh replaces the previous refresh's islands instead of adding to them.
    expect(counts[2], `live follows after each refresh: ${counts}`).toBe(counts[1]);
    expect(counts[1]).toBe(counts[0]);
    // And the refreshed figures are live themselves.
    const buyer = await signUp(request, "customer");
    await buyOne(request, buyer, coupon.id);
    await expect(stats.getByTestId("stat-stock")).toHaveText("6");
  } finally {
    await context.close();
  }
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("the notifications page shows the current state and marks read", async ({ page, request }) => {
    const name = `Plain Notice ${Date.now()}`;
    const owner = await signUp(request, "owner", "Plain Bakery");
    const coupon = await couponOf(request, owner, { name, price: 1200, stock: 1 });
    const buyer = await signUp(request, "customer");
    const bought = await buyOne(request, buyer, coupon.id);
    expect(bought.status()).toBe(201);

    await logInInBrowser(page, owner.email);
    await expect(page.getByTestId("current-user")).toBeVisible();
    await expect(page.getByTestId("bell-count")).toHaveText("1");
    await page.goto("/notifications");
    const item = page.getByTestId("notification").filter({ hasText: name });
    await expect(item).toHaveAttribute("data-kind", "sold_out");
    await expect(item).toHaveAttribute("data-read", "false");
    await page.getByTestId("mark-all-read").click();
    // The form posts to the server function, which sends the browser back to the page.
    await expect(page).toHaveURL(/\/notifications\??$/);
    await expect(page.getByTestId("notification").filter({ hasText: name })).toHaveAttribute("data-read", "true");
    await expect(page.getByTestId("bell-count")).toHaveText("0");

    // The coupon page shows it sold out as served.
    await page.goto(`/coupons/${coupon.id}`);
    await expect(page.getByTestId("badge-sold-out")).toBeVisible();
    await expect(page.getByTestId("coupon-stock")).toHaveText("0");
  });
});
