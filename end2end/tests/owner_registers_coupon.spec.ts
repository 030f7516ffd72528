import { expect, test } from "@playwright/test";
import { hydrated, signUpInBrowser, uniqueEmail } from "./helpers";

test("an owner signs up and registers a coupon", async ({ page }) => {
  await page.goto("/signup");
  await hydrated(page);
  const name = `Iced Americano ${Date.now()}`;
  await signUpInBrowser(page, { role: "owner", email: uniqueEmail("owner"), name: "Kim Owner", shop: "E2E Coffee" });

  await expect(page).toHaveURL(/\/owner\/coupons$/);
  await expect(page.getByTestId("current-user")).toContainText("Kim Owner");
  await page.getByTestId("new-coupon").click();
  await expect(page).toHaveURL(/\/owner\/coupons\/new$/);

  // A bad submission shows per-field messages and keeps the user on the form.
  await page.getByTestId("input-name").fill(name);
  await page.getByTestId("input-price").fill("0");
  await page.getByTestId("input-stock").fill("20");
  await page.getByTestId("coupon-submit").click();
  await expect(page.getByTestId("error-price")).toBeVisible();
  await expect(page.getByTestId("form-error")).toBeVisible();

  await page.getByTestId("input-price").fill("4,500");
  await page.getByTestId("input-description").fill("Any size, hot or iced");
  await page.getByTestId("input-sale_starts_at").fill("2026-01-01T09:00");
  await page.getByTestId("input-sale_ends_at").fill("2099-01-01T09:00");
  await page.getByTestId("coupon-submit").click();

  await expect(page).toHaveURL(/\/owner\/coupons$/);
  const row = page.getByTestId("my-coupon-row").filter({ hasText: name });
  await expect(row).toContainText("4,500원");
  await expect(row).toContainText("20");

  // Edit it, then stop its sales.
  await row.getByTestId("edit-coupon").click();
  await expect(page.getByTestId("input-price")).toHaveValue("4500");
  await page.getByTestId("input-price").fill("5000");
  await page.getByTestId("coupon-submit").click();
  await expect(page).toHaveURL(/\/owner\/coupons$/);
  await expect(page.getByTestId("my-coupon-row").filter({ hasText: name })).toContainText("5,000원");
  await page.getByTestId("my-coupon-row").filter({ hasText: name }).getByTestId("toggle-sale").click();
  await expect(page.getByTestId("my-coupon-row").filter({ hasText: name }).getByTestId("badge-status")).toHaveText(/Sales stopped|판매 중지/);
});
