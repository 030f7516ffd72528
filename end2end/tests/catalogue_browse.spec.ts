import { expect, test, type Page } from "@playwright/test";
import { hydrated, PASSWORD, signUpInBrowser, uniqueEmail } from "./helpers";

/** An owner with three coupons of `tag` (two cafés, one food), through the JSON API. */
async function shopOf(request: import("@playwright/test").APIRequestContext, tag: string) {
  const email = uniqueEmail("browse-owner");
  const signup = await request.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: "Owner Han", role: "owner", shop_name: `${tag} 카페` },
  });
  expect(signup.status()).toBe(201);
  const token = await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } });
  const { access_token } = await token.json();
  for (const c of [
    { name: `${tag} 카페라떼 Latte`, category: "cafe", price: 5000, list_price: 6000, stock: 4 },
    { name: `${tag} 녹차 Green Tea`, category: "cafe", price: 3000, stock: 30 },
    { name: `${tag} 냉면 Noodles`, category: "food", price: 8000, list_price: 10000, stock: 30 },
  ]) {
    const res = await request.post("/api/v1/coupons", {
      data: { description: "Made by the e2e suite", ...c },
      headers: { Authorization: `Bearer ${access_token}` },
    });
    expect(res.status(), await res.text()).toBe(201);
  }
}

async function cardNames(page: Page) {
  return page.getByTestId("coupon-card").getByTestId("coupon-name").allTextContents();
}

test("a customer filters by category, sorts by price, and the URL reproduces the view", async ({ page, request, browser }) => {
  const tag = `Browse${Date.now().toString(36)}`;
  await shopOf(request, tag);

  await page.goto("/signup");
  await hydrated(page);
  await signUpInBrowser(page, { role: "customer", email: uniqueEmail("browser"), name: "Choi Customer" });
  await expect(page.getByTestId("current-user")).toContainText("Choi Customer");

  await page.goto(`/?q=${encodeURIComponent(tag)}`);
  await hydrated(page);
  await expect(page.getByTestId("coupon-card")).toHaveCount(3);

  // A category chip keeps the search and narrows the list.
  await page.getByTestId("chip-cafe").click();
  await expect(page).toHaveURL(/category=cafe/);
  await expect(page).toHaveURL(/q=Browse/);
  await expect(page.getByTestId("coupon-card")).toHaveCount(2);
  await expect(page.getByTestId("chip-cafe")).toHaveAttribute("aria-current", "page");

  // The sort menu keeps the search and the category.
  await page.getByTestId("sort-select").selectOption("price_asc");
  await page.getByTestId("sort-submit").click();
  await expect(page).toHaveURL(/sort=price_asc/);
  await expect(page).toHaveURL(/category=cafe/);
  await expect.poll(() => cardNames(page)).toEqual([`${tag} 녹차 Green Tea`, `${tag} 카페라떼 Latte`]);
  await page.getByTestId("sort-select").selectOption("price_desc");
  await page.getByTestId("sort-submit").click();
  await expect(page).toHaveURL(/sort=price_desc/);
  await expect.poll(() => cardNames(page)).toEqual([`${tag} 카페라떼 Latte`, `${tag} 녹차 Green Tea`]);

  // The latte's card: 정가 struck through, the discount, the sale price, "few left".
  const latte = page.getByTestId("coupon-card").filter({ hasText: "Latte" });
  await expect(latte.getByTestId("coupon-list-price")).toContainText("6,000원");
  await expect(latte.getByTestId("coupon-discount")).toContainText("16%");
  await expect(latte.getByTestId("coupon-price")).toHaveText("5,000원");
  await expect(latte.getByTestId("badge-few-left")).toHaveAttribute("data-left", "4");

  // The link reproduces the view: in a new page, and in a browser without JavaScript.
  const url = page.url();
  for (const javaScriptEnabled of [true, false]) {
    const context = await browser.newContext({ javaScriptEnabled });
    const other = await context.newPage();
    await other.goto(url);
    await expect.poll(() => cardNames(other)).toEqual([`${tag} 카페라떼 Latte`, `${tag} 녹차 Green Tea`]);
    await expect(other.getByTestId("sort-select")).toHaveValue("price_desc");
    if (!javaScriptEnabled) {
      // Without JavaScript the chips are links and the sort menu a GET form.
      await other.getByTestId("chip-food").click();
      await expect(other).toHaveURL(/category=food/);
      await expect.poll(() => cardNames(other)).toEqual([`${tag} 냉면 Noodles`]);
      await other.getByTestId("sort-select").selectOption("price_asc");
      await other.getByTestId("sort-submit").click();
      await expect(other).toHaveURL(/sort=price_asc/);
      await expect(other).toHaveURL(/category=food/);
    }
    await context.close();
  }

  // The same view in Korean, for a look at the chips and the prices.
  await page.goto("/lang/ko");
  await page.goto(url);
  await expect(page.getByTestId("chip-cafe")).toHaveText("카페");
  await expect(page.getByTestId("sort-select").locator("option:checked")).toHaveText("높은 가격순");
  await page.screenshot({ path: "test-results/catalogue-ko.png", fullPage: true });
});
