import { expect, test } from "@playwright/test";
import { PASSWORD, uniqueEmail } from "./helpers";

test.use({ javaScriptEnabled: false });

test("forms work with JavaScript disabled", async ({ page }) => {
  const email = uniqueEmail("nojs");
  const name = `No-JS Tteokbokki ${Date.now()}`;

  // The shop name is asked of owners only; CSS shows it, so it works without JavaScript.
  await page.goto("/signup");
  await expect(page.getByTestId("role-customer")).toBeChecked();
  await expect(page.getByTestId("input-shop_name")).toBeHidden();
  await page.getByTestId("role-owner").check();
  await expect(page.getByTestId("input-shop_name")).toBeVisible();
  await page.getByTestId("input-email").fill(email);
  await page.getByTestId("input-password").fill(PASSWORD);
  await page.getByTestId("input-name").fill("Plain Form");
  await page.getByTestId("input-shop_name").fill("Plain Shop");
  await page.getByTestId("signup-submit").click();
  await expect(page).toHaveURL(/\/owner\/coupons$/);

  await page.goto("/owner/coupons/new");
  await page.getByTestId("input-name").fill(name);
  await page.getByTestId("input-price").fill("-5");
  await page.getByTestId("input-stock").fill("3");
  await page.getByTestId("coupon-submit").click();
  // The server sends the error back to the form page, which renders it.
  await expect(page.getByTestId("error-price")).toBeVisible();

  await page.getByTestId("input-name").fill(name);
  await page.getByTestId("input-price").fill("8000");
  await page.getByTestId("input-stock").fill("3");
  await page.getByTestId("coupon-submit").click();
  await expect(page).toHaveURL(/\/owner\/coupons$/);
  await expect(page.getByTestId("my-coupon-row").filter({ hasText: name })).toContainText("8,000원");

  // Log out and back in, still without JavaScript.
  await page.getByTestId("logout").click();
  await expect(page.getByTestId("nav-login")).toBeVisible();
  await page.goto("/login");
  await page.getByTestId("input-email").fill(email);
  await page.getByTestId("input-password").fill("wrong password");
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("form-error")).toBeVisible();
  await page.getByTestId("input-email").fill(email);
  await page.getByTestId("input-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("current-user")).toContainText("Plain Form");
});
