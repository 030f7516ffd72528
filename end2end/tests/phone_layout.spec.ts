import * as fs from "node:fs";
import * as path from "node:path";
import { expect, request as playwrightRequest, test, type Page } from "@playwright/test";
import { hydrated } from "./helpers";
import { baseURL, buildWorld, contextFor, DESKTOP, PHONE, type Lang, type World } from "./world";

// The shop on a phone (390x844) and on a desktop (1280x800), in Korean and English.
// Screenshots of every page on a phone go to target/screenshots/ (not in git).

let world: World;
const SHOTS = path.resolve(__dirname, "../../target/screenshots");

test.beforeAll(async () => {
  test.setTimeout(120_000);
  const api = await playwrightRequest.newContext({ baseURL });
  world = await buildWorld(api);
  await api.dispose();
  fs.mkdirSync(SHOTS, { recursive: true });
});

const ONE_LINE = 64; // px: one row of header items (a 2-line header measured 75+)

async function headerHeight(page: Page) {
  return (await page.locator("header.site-header").boundingBox())!.height;
}

const money = (n: number) => `${n.toLocaleString("en-US")}원`;

for (const lang of ["ko", "en"] as Lang[]) {
  test.describe(`phone, ${lang}`, () => {
    test("the header is one line with a menu that opens and closes", async ({ browser }) => {
      for (const who of ["visitor", "customer", "owner"] as const) {
        const session = who === "visitor" ? undefined : world[who].session;
        const context = await contextFor(browser, { lang, viewport: PHONE, session });
        const page = await context.newPage();
        await page.goto("/");
        await hydrated(page);
        expect(await headerHeight(page), `${who}: header height`).toBeLessThanOrEqual(ONE_LINE);
        const nav = page.getByTestId("main-nav");
        await expect(nav).toBeHidden();
        await expect(page.getByTestId("menu-button")).toBeVisible();
        await expect(page.getByTestId("lang-ko")).toBeInViewport();

        await page.getByTestId("menu-button").click();
        await expect(nav).toBeVisible();
        const link = who === "visitor" ? "nav-login" : who === "customer" ? "nav-mypage" : "nav-dashboard";
        await expect(page.getByTestId(link)).toBeVisible();
        // Opening the menu does not make the header taller: the menu lies over the page.
        expect(await headerHeight(page)).toBeLessThanOrEqual(ONE_LINE);
        // Following a link navigates in place and folds the menu again.
        await page.getByTestId(link).click();
        await expect(page).toHaveURL(new RegExp(who === "visitor" ? "/login$" : who === "customer" ? "/mypage$" : "/owner/dashboard$"));
        await expect(nav).toBeHidden();
        await context.close();
      }
    });

    test("the menu opens without JavaScript", async ({ browser }) => {
      const context = await contextFor(browser, { lang, viewport: PHONE, javaScriptEnabled: false, session: world.customer.session });
      const page = await context.newPage();
      await page.goto("/");
      expect(await headerHeight(page)).toBeLessThanOrEqual(ONE_LINE);
      await expect(page.getByTestId("main-nav")).toBeHidden();
      await page.getByTestId("menu-button").click();
      await expect(page.getByTestId("nav-mypage")).toBeVisible();
      await page.getByTestId("nav-mypage").click();
      await expect(page).toHaveURL(/\/mypage$/);
      await expect(page.getByTestId("order-row").first()).toBeVisible();
      await context.close();
    });

    test("the owner's tables are cards", async ({ browser }) => {
      const context = await contextFor(browser, { lang, viewport: PHONE, session: world.owner.session });
      const page = await context.newPage();
      for (const [url, table, row] of [
        ["/owner/coupons", "my-coupons", "my-coupon-row"],
        ["/owner/dashboard", "recent-orders", "recent-order"],
        ["/owner/dashboard", "coupon-stats", "coupon-stats-row"],
      ]) {
        await page.goto(url);
        await hydrated(page);
        const rows = page.getByTestId(table).getByTestId(row);
        await expect(rows.first()).toBeVisible();
        const first = rows.first();
        expect(await first.evaluate((el) => getComputedStyle(el).display), `${table} row`).toBe("flex");
        const box = (await first.boundingBox())!;
        expect(box.width, `${table}: a row is as wide as the page`).toBeGreaterThan(300);
        // Each cell takes the card's width, and says what it is.
        const cells = first.locator("td");
        const n = await cells.count();
        for (let i = 0; i < n; i++) {
          const cell = cells.nth(i);
          if (!(await cell.isVisible())) continue;
          expect((await cell.boundingBox())!.width, `${table} cell ${i}`).toBeGreaterThan(box.width - 40);
          const label = await cell.getAttribute("data-label");
          if (label) {
            expect(await cell.evaluate((el) => getComputedStyle(el, "::before").content)).toBe(JSON.stringify(label));
          }
        }
        // No horizontal scrolling.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
      }
      // The coupon name heads its card, in words, not one letter per line.
      const name = page.getByTestId("coupon-stats-row").filter({ hasText: world.americano.name }).locator("td.card-title");
      expect((await name.boundingBox())!.height).toBeLessThan(60);
      await context.close();
    });

    test("the coupon page has a sticky buy bar with a stepper, the total and what is left to buy", async ({ browser }) => {
      const context = await contextFor(browser, { lang, viewport: PHONE, session: world.customer.session });
      const page = await context.newPage();
      await page.goto(`/coupons/${world.americano.id}`);
      await hydrated(page);
      // The description is long: the bar's place in the page is below the fold, yet it
      // shows without scrolling.
      const bar = page.getByTestId("buy-form");
      const natural = await page.getByRole("link", { name: lang === "en" ? "Back to coupons" : "쿠폰 목록으로" }).evaluate((el) => el.getBoundingClientRect().top);
      expect(natural, "the page is longer than the screen").toBeGreaterThan(PHONE.height);
      await expect(page.getByTestId("buy-submit")).toBeInViewport({ ratio: 1 });
      const box = (await bar.boundingBox())!;
      expect(box.y + box.height).toBeLessThanOrEqual(PHONE.height + 1);
      expect(box.height, "the bar stays small").toBeLessThan(140);

      const quantity = page.getByTestId("input-quantity");
      const total = page.getByTestId("buy-total-amount");
      await expect(total).toHaveText(money(4500));
      await expect(page.getByTestId("qty-minus")).toBeDisabled();
      await page.getByTestId("qty-plus").click();
      await page.getByTestId("qty-plus").click();
      await expect(quantity).toHaveValue("3");
      await expect(total).toHaveText(money(13500));
      await page.getByTestId("qty-minus").click();
      await expect(quantity).toHaveValue("2");
      await expect(total).toHaveText(money(9000));
      await quantity.fill("5");
      await expect(total).toHaveText(money(22500));
      // Still there after scrolling to the end.
      await page.mouse.wheel(0, 3000);
      await expect(page.getByTestId("buy-submit")).toBeInViewport({ ratio: 1 });
      await page.screenshot({ path: path.join(SHOTS, `phone-${lang}-coupon-stepped.png`) });

      // A coupon with a limit per customer: this customer holds 1 of 3.
      await page.goto(`/coupons/${world.bingsu.id}`);
      await hydrated(page);
      const left = page.getByTestId("buy-allowance");
      await expect(left).toHaveAttribute("data-left", "2");
      await expect(left).toContainText(lang === "en" ? "You can buy 2 more (limit 3 per customer)" : "1인 3개 한도 중 2개 더 살 수 있어요");
      await page.getByTestId("qty-plus").click();
      await expect(quantity).toHaveValue("2");
      await expect(page.getByTestId("qty-plus")).toBeDisabled();
      await expect(total).toHaveText(money(24000));
      await expect(quantity).toHaveAttribute("max", "2");
      await context.close();
    });
  });
}

test("desktop: one-line header with the links in line, tables stay tables", async ({ browser }) => {
  for (const lang of ["ko", "en"] as Lang[]) {
    const context = await contextFor(browser, { lang, viewport: DESKTOP, session: world.owner.session });
    const page = await context.newPage();
    await page.goto("/owner/dashboard");
    await hydrated(page);
    expect(await headerHeight(page)).toBeLessThanOrEqual(ONE_LINE);
    await expect(page.getByTestId("menu-button")).toBeHidden();
    await expect(page.getByTestId("nav-dashboard")).toBeVisible();
    await expect(page.getByTestId("logout")).toBeVisible();
    const row = page.getByTestId("recent-order").first();
    expect(await row.evaluate((el) => getComputedStyle(el).display)).toBe("table-row");
    await page.screenshot({ path: path.join(SHOTS, `desktop-${lang}-dashboard.png`), fullPage: true });
    await page.goto(`/?q=${world.tag}`);
    await page.screenshot({ path: path.join(SHOTS, `desktop-${lang}-catalogue.png`), fullPage: true });
    await context.close();
  }
});

test("phone screenshots of every page, in both languages", async ({ browser }) => {
  test.setTimeout(180_000);
  const pages: [string, "visitor" | "customer" | "owner", (w: World) => string, string?][] = [
    ["catalogue", "visitor", () => "/"],
    ["catalogue-search", "customer", (w) => `/?q=${w.tag}`],
    ["coupon-visitor", "visitor", (w) => `/coupons/${w.americano.id}`],
    ["coupon-customer", "customer", (w) => `/coupons/${w.bingsu.id}`],
    ["login", "visitor", () => "/login"],
    ["signup", "visitor", () => "/signup"],
    ["mypage", "customer", () => "/mypage"],
    ["mypage-cancel-confirm", "customer", () => "/mypage", "cancel-order"],
    ["dashboard", "owner", () => "/owner/dashboard"],
    ["dashboard-refund-confirm", "owner", () => "/owner/dashboard", "refund-order"],
    ["my-coupons", "owner", () => "/owner/coupons"],
    ["new-coupon", "owner", () => "/owner/coupons/new"],
    ["edit-coupon", "owner", (w) => `/owner/coupons/${w.americano.id}/edit`],
    ["not-found", "visitor", () => "/no-such-page"],
  ];
  for (const lang of ["ko", "en"] as Lang[]) {
    for (const [name, who, url, click] of pages) {
      const session = who === "visitor" ? undefined : world[who].session;
      const context = await contextFor(browser, { lang, viewport: PHONE, session });
      const page = await context.newPage();
      await page.goto(url(world));
      await hydrated(page);
      if (click) await page.getByTestId(click).first().click();
      await page.screenshot({ path: path.join(SHOTS, `phone-${lang}-${name}.png`) });
      await page.screenshot({ path: path.join(SHOTS, `phone-${lang}-${name}-full.png`), fullPage: true });
      if (name === "catalogue") {
        await page.getByTestId("menu-button").click();
        await page.screenshot({ path: path.join(SHOTS, `phone-${lang}-menu-open.png`) });
      }
      // Nothing sticks out sideways on any page.
      expect(await page.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(PHONE.width);
      await context.close();
    }
  }
});

for (const lang of ["ko", "en"] as Lang[]) {
  test(`catalogue cards: one link named by the coupon, the whole card clickable, sold out last, total in the pager (${lang})`, async ({ browser }) => {
    const context = await contextFor(browser, { lang, viewport: PHONE });
    const page = await context.newPage();
    await page.goto(`/?q=${world.tag}`);
    await hydrated(page);

    const cards = page.getByTestId("coupon-card");
    await expect(cards).toHaveCount(3);
    // Newest first, except that the sold-out cake (registered second) goes last.
    await expect(cards.getByTestId("coupon-name")).toHaveText([world.bingsu.name, world.americano.name, world.cake.name]);
    await expect(cards.last().getByTestId("badge-sold-out")).toBeVisible();

    for (let i = 0; i < 3; i++) {
      await expect(cards.nth(i).locator("a")).toHaveCount(1);
    }
    await expect(page.getByRole("link", { name: world.americano.name, exact: true })).toHaveCount(1);

    await expect(page.getByTestId("catalogue-total")).toHaveText(lang === "en" ? "3 coupons" : "쿠폰 3개");
    await expect(page.getByTestId("pager-page")).toHaveText(lang === "en" ? "Page 1 of 1" : "1 / 1 페이지");
    await expect(page.getByRole("navigation", { name: lang === "en" ? "Pages" : "페이지 이동" })).toBeVisible();

    // A tap on the price (not on the name) opens the coupon.
    // Cards carry a picture now: the second card's price is below the fold until scrolled to.
    await cards.nth(1).getByTestId("coupon-price").scrollIntoViewIfNeeded();
    const price = (await cards.nth(1).getByTestId("coupon-price").boundingBox())!;
    await page.mouse.click(price.x + price.width / 2, price.y + price.height / 2);
    await expect(page).toHaveURL(new RegExp(`/coupons/${world.americano.id}$`));
    await expect(page.getByTestId("coupon-detail")).toContainText(world.americano.name);
    await context.close();
  });
}

test("the JSON API lists sold-out coupons last too", async ({ request }) => {
  const res = await request.get(`/api/v1/coupons?q=${world.tag}`);
  const body = await res.json();
  expect(body.total).toBe(3);
  expect(body.items.map((c: { name: string }) => c.name)).toEqual([world.bingsu.name, world.americano.name, world.cake.name]);
  expect(body.items[2].status).toBe("sold_out");
});
