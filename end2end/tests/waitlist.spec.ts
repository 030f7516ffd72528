import { expect, test, type APIRequestContext } from "@playwright/test";
import { hydrated, PASSWORD, signUpInBrowser, uniqueEmail } from "./helpers";

/** An owner's coupon with `stock` units (JSON API); returns the coupon. */
async function couponWithStock(request: APIRequestContext, name: string, stock: number) {
  const email = uniqueEmail("line-owner");
  const signup = await request.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: "Line Owner", role: "owner", shop_name: `Shop ${name}` },
  });
  expect(signup.status()).toBe(201);
  const { access_token } = await (await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } })).json();
  const coupon = await request.post("/api/v1/coupons", {
    data: { name, description: "Made by the e2e suite", price: 6000, stock },
    headers: { Authorization: `Bearer ${access_token}` },
  });
  expect(coupon.status()).toBe(201);
  return coupon.json();
}

/** A customer who bought `quantity` units through the JSON API; returns its token and order. */
async function apiBuyer(request: APIRequestContext, couponId: string, quantity = 1) {
  const email = uniqueEmail("line-buyer");
  expect((await request.post("/api/v1/auth/signup", { data: { email, password: PASSWORD, name: "Buyer", role: "customer" } })).status()).toBe(201);
  const { access_token } = await (await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } })).json();
  const headers = { Authorization: `Bearer ${access_token}` };
  const order = await request.post("/api/v1/orders", {
    data: { coupon_id: couponId, quantity },
    headers: { ...headers, "Idempotency-Key": `e2e-line-${Date.now()}-${Math.random()}` },
  });
  expect(order.status()).toBe(201);
  return { headers, order: await order.json() };
}

test("a customer watches the last unit sell, waits in line, is told of the hold and buys it in time", async ({ browser, request }) => {
  const name = `Restock Bingsu ${Date.now()}`;
  const coupon = await couponWithStock(request, name, 1);

  // The waiting customer has the coupon page open while it can still be bought.
  const waiterContext = await browser.newContext();
  const waiter = await waiterContext.newPage();
  await waiter.goto("/signup");
  await hydrated(waiter);
  await signUpInBrowser(waiter, { role: "customer", email: uniqueEmail("waiter"), name: "Patient Waiter" });
  await expect(waiter.getByTestId("current-user")).toBeVisible();
  await waiter.goto(`/coupons/${coupon.id}`);
  await hydrated(waiter);
  await expect(waiter.getByTestId("buy-submit")).toBeVisible();
  await expect(waiter.getByTestId("bell-count")).toHaveText("0");
  // Marks the page, to tell later that it was never reloaded.
  await waiter.evaluate(() => ((window as unknown as { __notReloaded: boolean }).__notReloaded = true));

  // The first buyer takes the last unit in their browser.
  const buyerContext = await browser.newContext();
  const buyer = await buyerContext.newPage();
  await buyer.goto("/signup");
  await hydrated(buyer);
  await signUpInBrowser(buyer, { role: "customer", email: uniqueEmail("first-buyer"), name: "First Buyer" });
  await expect(buyer.getByTestId("current-user")).toBeVisible();
  await buyer.goto(`/coupons/${coupon.id}`);
  await hydrated(buyer);
  await buyer.getByTestId("buy-submit").click();
  await expect(buyer).toHaveURL(/\/mypage$/);

  // The waiting customer's page flips to sold out without a reload and offers the line.
  await expect(waiter.getByTestId("badge-sold-out")).toBeVisible();
  await expect(waiter.getByTestId("buy-submit")).toHaveCount(0);
  await waiter.getByTestId("waitlist-join").click();
  await expect(waiter.getByTestId("waitlist-position")).toHaveAttribute("data-position", "1");
  await expect(waiter.getByTestId("waitlist-position")).toContainText("#1");
  expect(await waiter.evaluate(() => (window as unknown as { __notReloaded?: boolean }).__notReloaded)).toBe(true);

  // The first buyer cancels: the unit is held for the waiting customer, whose bell and
  // page show the hold without a reload, counting down.
  const row = buyer.getByTestId("order-row").filter({ hasText: name });
  await row.getByTestId("cancel-order").click();
  await row.getByTestId("confirm-cancel").click();
  await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "cancelled");
  await expect(waiter.getByTestId("bell-count")).toHaveText("1", { timeout: 20_000 });
  await expect(waiter.getByTestId("waitlist-hold")).toBeVisible({ timeout: 20_000 });
  const countdown = waiter.getByTestId("waitlist-countdown");
  await expect(countdown).toContainText(/\d+:\d\d/);
  const first = await countdown.textContent();
  await expect(countdown).not.toHaveText(first ?? "");
  expect(await waiter.evaluate(() => (window as unknown as { __notReloaded?: boolean }).__notReloaded)).toBe(true);

  // Nobody else can buy the held unit.
  const otherEmail = uniqueEmail("line-other");
  expect((await request.post("/api/v1/auth/signup", { data: { email: otherEmail, password: PASSWORD, name: "Other", role: "customer" } })).status()).toBe(201);
  const { access_token } = await (await request.post("/api/v1/auth/token", { data: { email: otherEmail, password: PASSWORD } })).json();
  const refused = await request.post("/api/v1/orders", {
    data: { coupon_id: coupon.id, quantity: 1 },
    headers: { Authorization: `Bearer ${access_token}` },
  });
  expect(refused.status()).toBe(409);
  expect((await refused.json()).error.code).toBe("out_of_stock");

  // The waiting customer buys it inside the hold.
  await waiter.getByTestId("waitlist-buy").click();
  await expect(waiter).toHaveURL(/\/mypage$/);
  await expect(waiter.getByTestId("order-row").filter({ hasText: name })).toHaveCount(1);
  const shown = await (await request.get(`/api/v1/coupons/${coupon.id}`)).json();
  expect(shown.stock_left).toBe(0);

  // The hold is on the notifications page, linking to the coupon.
  await waiter.getByTestId("nav-bell").click();
  // (The payment of what was bought in it may be listed too, under its own kind.)
  const item = waiter.locator('[data-testid="notification"][data-kind="restock_hold"]').filter({ hasText: name });
  await expect(item).toHaveCount(1);
  await expect(item.getByTestId("notification-link")).toHaveAttribute("href", `/coupons/${coupon.id}`);

  await buyerContext.close();
  await waiterContext.close();
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the waitlist form works: join, see the place, leave, and buy a held unit", async ({ page, request }) => {
    const name = `No-JS Restock Tteok ${Date.now()}`;
    const coupon = await couponWithStock(request, name, 1);
    const first = await apiBuyer(request, coupon.id, 1);

    await signUpInBrowser(page, { role: "customer", email: uniqueEmail("nojs-waiter"), name: "Plain Waiter" });
    await expect(page.getByTestId("current-user")).toBeVisible();
    await page.goto(`/coupons/${coupon.id}`);
    await expect(page.getByTestId("badge-sold-out")).toBeVisible();
    await page.getByTestId("waitlist-join").click();
    await expect(page).toHaveURL(new RegExp(`/coupons/${coupon.id}\\??$`));
    await expect(page.getByTestId("waitlist-position")).toHaveAttribute("data-position", "1");

    await page.getByTestId("waitlist-leave").click();
    await expect(page.getByTestId("waitlist-join")).toBeVisible();
    await page.getByTestId("waitlist-join").click();
    await expect(page.getByTestId("waitlist-position")).toHaveAttribute("data-position", "1");

    // The unit comes back: the page shows the hold (its end time) and a buy button.
    const cancel = await request.post(`/api/v1/orders/${first.order.id}/cancel`, { headers: first.headers });
    expect(cancel.status()).toBe(200);
    await page.reload();
    await expect(page.getByTestId("waitlist-hold")).toBeVisible();
    await page.getByTestId("waitlist-buy").click();
    await expect(page).toHaveURL(/\/mypage$/);
    await expect(page.getByTestId("order-row").filter({ hasText: name })).toHaveCount(1);
  });
});
