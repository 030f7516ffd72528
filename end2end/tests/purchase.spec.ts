import { expect, test, type APIRequestContext } from "@playwright/test";
import { hydrated, logInInBrowser, ownerWithCoupon, PASSWORD, signUpInBrowser, uniqueEmail } from "./helpers";

async function apiToken(request: APIRequestContext, email: string) {
  const res = await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } });
  expect(res.status()).toBe(200);
  return (await res.json()).access_token as string;
}

test("buy, see it paid with a voucher on my page, cancel, see it refunded and the stock back", async ({ page, request }) => {
  const name = `Saga Latte ${Date.now()}`;
  const coupon = await ownerWithCoupon(request, name, 5000);

  await page.goto("/signup");
  await hydrated(page);
  await signUpInBrowser(page, { role: "customer", email: uniqueEmail("buyer"), name: "Buyer" });
  await expect(page.getByTestId("current-user")).toBeVisible();

  await page.goto(`/coupons/${coupon.id}`);
  await hydrated(page);
  await expect(page.getByTestId("coupon-stock")).toHaveText("10");
  await page.getByTestId("input-quantity").fill("2");
  await page.getByTestId("buy-submit").click();

  await expect(page).toHaveURL(/\/mypage$/);
  const row = page.getByTestId("order-row").filter({ hasText: name });
  await expect(row.getByTestId("order-amount")).toHaveText("10,000원");
  // The page updates itself when the payment completes.
  await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "paid");
  await expect(row.getByTestId("payment-status")).toHaveAttribute("data-status", "completed");
  await expect(row.getByTestId("voucher-code")).toHaveCount(2);
  await expect(row.getByTestId("paid-at")).toBeVisible();

  // Cancelling asks first (the amount and a second button).
  await row.getByTestId("cancel-order").click();
  await expect(row.getByTestId("cancel-confirm")).toContainText("10,000원");
  await row.getByTestId("confirm-cancel").click();
  await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "cancelled");
  await expect(row.getByTestId("payment-status")).toHaveAttribute("data-status", "refunded");
  await expect(row.getByTestId("cancelled-at")).toBeVisible();
  await expect(row.getByTestId("refunded-at")).toBeVisible();
  await expect(row.getByTestId("cancel-order")).toHaveCount(0);

  await page.goto(`/coupons/${coupon.id}`);
  await expect(page.getByTestId("coupon-stock")).toHaveText("10");
});

test("a busy shop: the buy box counts down and retries by itself, and buys once", async ({ page, request }) => {
  const name = `Busy Donut ${Date.now()}`;
  const coupon = await ownerWithCoupon(request, name, 2000);
  await page.goto("/signup");
  await hydrated(page);
  await signUpInBrowser(page, { role: "customer", email: uniqueEmail("busy"), name: "Busy Buyer" });
  await expect(page.getByTestId("current-user")).toBeVisible();

  // The first attempt meets a full purchase queue: the server's exact answer for that
  // (pinned by server/tests/api/admission.rs); later attempts reach the real server.
  let attempts = 0;
  const keys: string[] = [];
  await page.route("**/sfn/orders/buy", async (route) => {
    attempts += 1;
    keys.push(new URLSearchParams(route.request().postData() ?? "").get("idempotency_key") ?? "");
    if (attempts === 1) {
      await route.fulfill({
        status: 503,
        headers: { "content-type": "application/json", "retry-after": "2", serverfnerror: "/sfn/orders/buy" },
        body: JSON.stringify({ Unavailable: { retry_after_secs: 2 } }),
      });
    } else {
      await route.continue();
    }
  });

  await page.goto(`/coupons/${coupon.id}`);
  await hydrated(page);
  await page.getByTestId("buy-submit").click();
  await expect(page.getByTestId("buy-busy")).toBeVisible();
  await expect(page.getByTestId("buy-busy")).toContainText("2");
  await expect(page.getByTestId("form-error")).toHaveCount(0);
  await expect(page.getByTestId("buy-submit")).toBeDisabled();

  await expect(page).toHaveURL(/\/mypage$/, { timeout: 10_000 });
  expect(attempts).toBe(2);
  expect(keys[0]).not.toBe("");
  expect(keys[1]).toBe(keys[0]);
  await expect(page.getByTestId("order-row").filter({ hasText: name })).toHaveCount(1);
});

test("an owner redeems a voucher at the shop, once", async ({ page, request }) => {
  const name = `Redeem Bagel ${Date.now()}`;
  const ownerEmail = uniqueEmail("redeem-owner");
  expect((await request.post("/api/v1/auth/signup", { data: { email: ownerEmail, password: PASSWORD, name: "Owner", role: "owner", shop_name: "Bagels" } })).status()).toBe(201);
  const ownerToken = await apiToken(request, ownerEmail);
  const coupon = await (await request.post("/api/v1/coupons", { data: { name, price: 3000, stock: 5 }, headers: { Authorization: `Bearer ${ownerToken}` } })).json();

  const customerEmail = uniqueEmail("redeem-customer");
  expect((await request.post("/api/v1/auth/signup", { data: { email: customerEmail, password: PASSWORD, name: "Customer", role: "customer" } })).status()).toBe(201);
  const token = await apiToken(request, customerEmail);
  const buy = await request.post("/api/v1/orders", { data: { coupon_id: coupon.id, quantity: 1 }, headers: { Authorization: `Bearer ${token}`, "Idempotency-Key": `e2e-${Date.now()}` } });
  expect(buy.status()).toBe(201);
  let code = "";
  await expect(async () => {
    const items = (await (await request.get("/api/v1/mypage", { headers: { Authorization: `Bearer ${token}` } })).json()).items;
    expect(items[0].status).toBe("paid");
    code = items[0].vouchers[0].code;
  }).toPass({ timeout: 15_000 });

  await logInInBrowser(page, ownerEmail);
  await expect(page.getByTestId("current-user")).toBeVisible();
  await page.goto("/owner/dashboard");
  await hydrated(page);
  await page.getByTestId("input-code").fill(code.toLowerCase());
  await page.getByTestId("redeem-submit").click();
  await expect(page.getByTestId("flash")).toContainText(code);
  const stats = page.getByTestId("coupon-stats-row").filter({ hasText: name });
  await expect(stats.getByTestId("stat-redeemed")).toHaveText("1");

  await page.getByTestId("input-code").fill(code);
  await page.getByTestId("redeem-submit").click();
  await expect(page.getByTestId("form-error")).toBeVisible();
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });
  test("buying works", async ({ page, request }) => {
    const name = `No-JS Kimbap ${Date.now()}`;
    const coupon = await ownerWithCoupon(request, name, 4000);
    await signUpInBrowser(page, { role: "customer", email: uniqueEmail("nojs-buyer"), name: "Plain Buyer" });
    await expect(page.getByTestId("current-user")).toBeVisible();
    await page.goto(`/coupons/${coupon.id}`);
    await page.getByTestId("input-quantity").fill("3");
    await page.getByTestId("buy-submit").click();
    await expect(page).toHaveURL(/\/mypage$/);
    const row = page.getByTestId("order-row").filter({ hasText: name });
    await expect(row.getByTestId("order-amount")).toHaveText("12,000원");
    await expect(row.getByTestId("order-quantity")).toHaveText("3");
    // Without live updates, a reload shows the payment once it is done.
    await expect(async () => {
      await page.reload();
      await expect(page.getByTestId("order-row").filter({ hasText: name }).getByTestId("order-status")).toHaveAttribute("data-status", "paid", { timeout: 1000 });
    }).toPass({ timeout: 15_000 });
  });
});
