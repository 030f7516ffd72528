import { expect, type APIRequestContext, type Page } from "@playwright/test";

export const PASSWORD = "e2e-password-123";

/** A unique e-mail per call, so tests never collide across runs. */
export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@e2e.coupan.test`;
}

/** Waits until the WASM bundle has hydrated the page (set by frontend/src/lib.rs). */
export async function hydrated(page: Page) {
  await expect(page.locator("body[data-hydrated=true]")).toBeAttached({ timeout: 30_000 });
}

/** Creates an owner with one coupon through the JSON API; returns the coupon. */
export async function ownerWithCoupon(request: APIRequestContext, couponName: string, price = 15000) {
  const email = uniqueEmail("api-owner");
  const signup = await request.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: "API Owner", role: "owner", shop_name: `Shop ${couponName}` },
  });
  expect(signup.status()).toBe(201);
  const token = await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } });
  expect(token.status()).toBe(200);
  const { access_token } = await token.json();
  const coupon = await request.post("/api/v1/coupons", {
    data: { name: couponName, description: "Made by the e2e suite", price, stock: 10 },
    headers: { Authorization: `Bearer ${access_token}` },
  });
  expect(coupon.status()).toBe(201);
  return coupon.json();
}

export async function signUpInBrowser(page: Page, opts: { role: "owner" | "customer"; email: string; name: string; shop?: string }) {
  await page.goto("/signup");
  await page.getByTestId(`role-${opts.role}`).check();
  await page.getByTestId("input-email").fill(opts.email);
  await page.getByTestId("input-password").fill(PASSWORD);
  await page.getByTestId("input-name").fill(opts.name);
  if (opts.shop) await page.getByTestId("input-shop_name").fill(opts.shop);
  await page.getByTestId("signup-submit").click();
}

export async function logInInBrowser(page: Page, email: string) {
  await page.goto("/login");
  await page.getByTestId("input-email").fill(email);
  await page.getByTestId("input-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
}
