import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { PASSWORD, hydrated, uniqueEmail } from "./helpers";

// Every route, in Korean and in English, in the build that ./scripts/test.sh serves (the
// release build of ./scripts/run.sh): the page's islands hydrate (body[data-hydrated])
// without a console error or an uncaught page error, and so does the page an internal link
// leads to. A release wasm that does not match its server panics right here (issue 10).

type Route = {
  path: string;
  /** What the page shows once rendered. */
  shows: string;
  /** The answer's status, when not 200. */
  status?: number;
};

let couponId = "";
let ownerEmail = "";
let customerEmail = "";

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({ playwright }) => {
  const api = await playwright.request.newContext({ baseURL: process.env.COUPAN_E2E_URL ?? "http://127.0.0.1:3100" });
  ownerEmail = uniqueEmail("hydrate-owner");
  customerEmail = uniqueEmail("hydrate-customer");
  couponId = await ownerWithCoupon(api, ownerEmail, `Hydration Hotteok ${Date.now()}`);
  const signup = await api.post("/api/v1/auth/signup", {
    data: { email: customerEmail, password: PASSWORD, name: "Hydration Customer", role: "customer" },
  });
  expect(signup.status()).toBe(201);
  await api.dispose();
});

async function ownerWithCoupon(api: APIRequestContext, email: string, name: string): Promise<string> {
  const signup = await api.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: "Hydration Owner", role: "owner", shop_name: `Shop ${name}` },
  });
  expect(signup.status()).toBe(201);
  const token = await api.post("/api/v1/auth/token", { data: { email, password: PASSWORD } });
  const { access_token } = await token.json();
  const coupon = await api.post("/api/v1/coupons", {
    data: { name, description: "Made by the hydration smoke test", price: 9000, stock: 10 },
    headers: { Authorization: `Bearer ${access_token}` },
  });
  expect(coupon.status()).toBe(201);
  return (await coupon.json()).id;
}

/** Console errors and uncaught errors of the page, from now on. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // The pages link /favicon.svg; a browser that still asks for /favicon.ico is not the app's error.
    if (msg.location().url.endsWith("/favicon.ico")) return;
    errors.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
  return errors;
}

async function useLanguage(page: Page, lang: "ko" | "en") {
  await page.goto(`/lang/${lang}`);
  await expect(page.locator("html")).toHaveAttribute("lang", lang);
}

/** Visits `route`, checks that it hydrated cleanly, then follows the header's brand link
 * (on the catalogue: the first coupon card) and checks that the next page hydrated too. */
async function checkRoute(page: Page, errors: string[], lang: string, route: Route) {
  await test.step(`${lang} ${route.path}`, async () => {
    errors.length = 0;
    const response = await page.goto(route.path);
    expect(response?.status()).toBe(route.status ?? 200);
    await expect(page.locator("html")).toHaveAttribute("lang", lang);
    await expect(page.getByTestId(route.shows).first()).toBeVisible();
    await hydrated(page);

    if (route.path === "/") {
      const card = page.getByTestId("coupon-card").first().locator("a[href^=\"/coupons/\"]").first();
      const href = await card.getAttribute("href");
      expect(href).toMatch(/^\/coupons\//);
      await card.click();
      await expect(page).toHaveURL(new RegExp(`${href}$`));
      await expect(page.getByTestId("coupon-detail")).toBeVisible();
    } else {
      await page.getByTestId("brand").click();
      await expect(page).toHaveURL(/\/$/);
      await expect(page.getByTestId("coupon-list")).toBeVisible();
    }
    await hydrated(page);
    await expect(page.locator("body[data-hydrated=true]")).toBeAttached();
    // Chromium reports the page's own 404 as a console error: that one is wanted.
    const own404 = `status of 404 (Not Found) (${new URL(route.path, page.url()).href})`;
    expect(
      errors.filter((e) => !(route.status === 404 && e.endsWith(own404))),
      `errors on ${route.path} (${lang})`,
    ).toEqual([]);
  });
}

async function logIn(page: Page, email: string) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByTestId("input-email").fill(email);
  await page.getByTestId("input-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("current-user")).toBeVisible();
}

for (const [who, routes] of [
  [
    "a visitor",
    () => [
      { path: "/", shows: "coupon-list" },
      { path: `/coupons/${couponId}`, shows: "coupon-detail" },
      { path: "/login", shows: "login-form" },
      { path: "/signup", shows: "signup-form" },
      { path: "/no-such-page", shows: "not-found", status: 404 },
    ],
  ],
  ["a customer", () => [{ path: "/mypage", shows: "no-orders" }]],
  [
    "an owner",
    () => [
      { path: "/owner/dashboard", shows: "coupon-stats" },
      { path: "/owner/coupons", shows: "my-coupons" },
      { path: "/owner/coupons/new", shows: "coupon-form" },
      { path: `/owner/coupons/${couponId}/edit`, shows: "coupon-form" },
    ],
  ],
] as const) {
  test(`every page ${who} sees hydrates, in Korean and English, and so does the page its links lead to`, async ({
    page,
  }) => {
    test.setTimeout(120_000);
    const errors = watchErrors(page);
    if (who === "a customer") await logIn(page, customerEmail);
    if (who === "an owner") await logIn(page, ownerEmail);
    for (const lang of ["ko", "en"] as const) {
      await useLanguage(page, lang);
      for (const route of routes()) await checkRoute(page, errors, lang, route);
    }
  });
}
