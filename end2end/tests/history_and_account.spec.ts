import { expect, test } from "@playwright/test";
import { buildWorld, contextFor, type World } from "./world";

let world: World;

test.beforeAll(async ({ request }) => {
  world = await buildWorld(request);
});

for (const javaScriptEnabled of [true, false]) {
  test(`the owner filters the shop's orders and downloads them (JavaScript ${javaScriptEnabled ? "on" : "off"})`, async ({ browser }) => {
    const context = await contextFor(browser, { lang: "ko", session: world.owner.session, javaScriptEnabled });
    const page = await context.newPage();
    await page.goto("/owner/dashboard");
    await page.getByTestId("all-orders").click();
    await expect(page).toHaveURL(/\/owner\/orders$/);
    await expect(page.getByRole("heading", { name: "주문 내역" })).toBeVisible();
    // The world's five orders.
    await expect(page.getByTestId("owner-order")).toHaveCount(5);

    await page.getByTestId("filter-status").selectOption("cancelled");
    await page.getByTestId("filter-submit").click();
    await expect(page).toHaveURL(/status=cancelled/);
    // The customer's cancel and the owner's refund.
    await expect(page.getByTestId("owner-order")).toHaveCount(2);
    await expect(page.getByTestId("export-csv")).toHaveAttribute("href", "/api/v1/owner/orders.csv?status=cancelled");

    const csv = await context.request.get("/api/v1/owner/orders.csv?status=cancelled");
    expect(csv.status()).toBe(200);
    expect(csv.headers()["content-type"]).toBe("text/csv; charset=utf-8");
    const body = await csv.body();
    expect([...body.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(body.toString("utf8").trim().split("\r\n")).toHaveLength(3);
    await context.close();
  });
}

test("a customer changes the password on the account page without JavaScript; the other session ends", async ({ browser }) => {
  const here = await contextFor(browser, { lang: "en", session: world.customer.session, javaScriptEnabled: false });
  const elsewhere = await contextFor(browser, { lang: "en", session: world.customer.session });
  // The stored state is one session: a second log-in makes the other device's session.
  const other = await elsewhere.newPage();
  await other.context().clearCookies();
  await other.goto("/login");
  await other.getByTestId("input-email").fill(world.customer.email);
  await other.getByTestId("input-password").fill("e2e-password-123");
  await other.getByTestId("login-submit").click();
  await expect(other.getByTestId("current-user")).toBeVisible();

  const page = await here.newPage();
  await page.goto("/mypage");
  await page.getByTestId("nav-account").click();
  await expect(page).toHaveURL(/\/account$/);
  await page.getByTestId("input-current_password").fill("not the password");
  await page.getByTestId("input-new_password").fill("a brand new passphrase");
  await page.getByTestId("password-submit").click();
  await expect(page.getByTestId("form-error")).toBeVisible();
  await expect(page).toHaveURL(/\/account/);

  await page.getByTestId("input-current_password").fill("e2e-password-123");
  await page.getByTestId("input-new_password").fill("a brand new passphrase");
  await page.getByTestId("password-submit").click();
  await expect(page).toHaveURL(/\/account$/);
  await expect(page.locator("[data-flash=password_changed]")).toBeVisible();
  await expect(page.getByTestId("current-user")).toBeVisible();

  await other.goto("/mypage");
  await expect(other.getByTestId("nav-login")).toBeVisible();
  await here.close();
  await elsewhere.close();
});
