import { expect, test } from "@playwright/test";
import { hydrated, ownerWithCoupon, signUpInBrowser, uniqueEmail } from "./helpers";

test("a customer signs up and finds a coupon in the catalogue by search", async ({ page, request }) => {
  const couponName = `Bingsu ${Date.now()}`;
  await ownerWithCoupon(request, couponName, 15000);

  await page.goto("/signup");
  await hydrated(page);
  await signUpInBrowser(page, { role: "customer", email: uniqueEmail("customer"), name: "Park Customer" });
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("current-user")).toContainText("Park Customer");

  await page.getByTestId("search-input").fill(couponName);
  await page.getByTestId("search-submit").click();
  await expect(page).toHaveURL(/q=/);
  const cards = page.getByTestId("coupon-card");
  await expect(cards).toHaveCount(1);
  await expect(cards.first().getByTestId("coupon-price")).toHaveText("15,000원");

  await cards.first().getByTestId("coupon-name").click();
  await expect(page.getByTestId("coupon-detail")).toContainText(couponName);
  await expect(page.getByTestId("coupon-stock")).toHaveText("10");

  await page.goto("/?q=no-such-coupon-anywhere-42");
  await expect(page.getByTestId("no-results")).toBeVisible();
});

test("a customer is refused the owner pages", async ({ page, request }) => {
  await page.goto("/signup");
  await hydrated(page);
  await signUpInBrowser(page, { role: "customer", email: uniqueEmail("nosy"), name: "Nosy" });
  await expect(page.getByTestId("current-user")).toBeVisible();

  for (const path of ["/owner/coupons", "/owner/coupons/new"]) {
    await page.goto(path);
    await expect(page.getByTestId("forbidden")).toBeVisible();
    await expect(page.getByTestId("coupon-form")).toHaveCount(0);
    await expect(page.getByTestId("my-coupons")).toHaveCount(0);
  }
  // The API refuses too, not just the page.
  const res = await request.post("/api/v1/coupons", { data: { name: "x", price: 1, stock: 1 } });
  expect(res.status()).toBe(401);
});
