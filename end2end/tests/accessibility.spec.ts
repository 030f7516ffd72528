import AxeBuilder from "@axe-core/playwright";
import { expect, request as playwrightRequest, test, type Page } from "@playwright/test";
import { hydrated } from "./helpers";
import { baseURL, buildWorld, contextFor, DESKTOP, PHONE, tabTo, type Lang, type World } from "./world";

// axe-core on every page, in both languages, at desktop and phone width: no serious or
// critical violation. The pages show real data: sold-out cards, paid, cancelled and
// refunded orders, a redeemed voucher, the owner's chart and tables, a form with errors.

let world: World;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  const api = await playwrightRequest.newContext({ baseURL });
  world = await buildWorld(api);
  await api.dispose();
});

async function seriousViolations(page: Page) {
  const results = await new AxeBuilder({ page }).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n  ${v.nodes.map((n) => n.target.join(" ") + " :: " + n.failureSummary?.replace(/\n/g, " ")).join("\n  ")}`);
}

type Who = "visitor" | "customer" | "owner";
type Visit = { name: string; who: Who; path: (w: World) => string; js?: boolean; then?: (page: Page) => Promise<void> };

const visits: Visit[] = [
  { name: "catalogue", who: "visitor", path: () => "/" },
  { name: "catalogue search with a sold-out card", who: "visitor", path: (w) => `/?q=${w.tag}` },
  { name: "coupon page (visitor)", who: "visitor", path: (w) => `/coupons/${w.americano.id}` },
  { name: "coupon page with the buy bar", who: "customer", path: (w) => `/coupons/${w.bingsu.id}` },
  { name: "log-in", who: "visitor", path: () => "/login" },
  {
    name: "log-in after a failed attempt",
    who: "visitor",
    path: () => "/login",
    then: async (page) => {
      await page.getByTestId("input-email").fill("nobody@e2e.coupan.test");
      await page.getByTestId("input-password").fill("wrong password");
      await page.getByTestId("login-submit").click();
      await expect(page.getByTestId("form-error")).toBeVisible();
    },
  },
  { name: "sign-up", who: "visitor", path: () => "/signup" },
  { name: "my page (paid, cancelled, refunded, redeemed)", who: "customer", path: () => "/mypage" },
  {
    name: "my page asking to confirm a cancel",
    who: "customer",
    path: () => "/mypage",
    then: async (page) => {
      await page.getByTestId("cancel-order").first().click();
      await expect(page.getByTestId("cancel-confirm")).toBeVisible();
    },
  },
  {
    name: "owner dashboard with the chart",
    who: "owner",
    path: () => "/owner/dashboard",
    then: async (page) => {
      await page.locator(".chart-data summary").click();
      await expect(page.getByTestId("sales-table")).toBeVisible();
    },
  },
  {
    name: "owner dashboard asking to confirm a refund",
    who: "owner",
    path: () => "/owner/dashboard",
    then: async (page) => {
      await page.getByTestId("refund-order").first().click();
      await expect(page.getByTestId("refund-confirm-box")).toBeVisible();
    },
  },
  { name: "my coupons", who: "owner", path: () => "/owner/coupons" },
  { name: "new coupon", who: "owner", path: () => "/owner/coupons/new" },
  {
    name: "new coupon with field errors",
    who: "owner",
    path: () => "/owner/coupons/new",
    then: async (page) => {
      await page.getByTestId("input-name").fill("x");
      await page.getByTestId("input-price").fill("0");
      await page.getByTestId("input-stock").fill("-1");
      await page.getByTestId("coupon-submit").click();
      await expect(page.getByTestId("error-price")).toBeVisible();
    },
  },
  { name: "edit coupon", who: "owner", path: (w) => `/owner/coupons/${w.americano.id}/edit` },
  { name: "not found", who: "visitor", path: () => "/no-such-page" },
  { name: "my page signed out", who: "visitor", path: () => "/mypage" },
];

for (const lang of ["ko", "en"] as Lang[]) {
  for (const [size, viewport] of [["desktop", DESKTOP], ["phone", PHONE]] as const) {
    test(`axe: every page, ${lang}, ${size}`, async ({ browser }) => {
      test.setTimeout(180_000);
      const contexts = {
        visitor: await contextFor(browser, { lang, viewport }),
        customer: await contextFor(browser, { lang, viewport, session: world.customer.session }),
        owner: await contextFor(browser, { lang, viewport, session: world.owner.session }),
      };
      const failures: string[] = [];
      for (const v of visits) {
        const page = await contexts[v.who].newPage();
        await page.goto(v.path(world));
        await hydrated(page);
        await expect(page.locator("html")).toHaveAttribute("lang", lang);
        if (v.then) await v.then(page);
        const found = await seriousViolations(page);
        if (found.length) failures.push(`${v.name}:\n${found.join("\n")}`);
        if (size === "phone" && v.name === "catalogue") {
          // The phone menu, open.
          await page.getByTestId("menu-button").click();
          await expect(page.getByTestId("main-nav")).toBeVisible();
          const open = await seriousViolations(page);
          if (open.length) failures.push(`catalogue with the menu open:\n${open.join("\n")}`);
        }
        await page.close();
      }
      for (const c of Object.values(contexts)) await c.close();
      expect(failures, failures.join("\n\n")).toEqual([]);
    });
  }
}

test.describe("forms tell assistive technology what went wrong", () => {
  test("field errors are linked to their inputs, and the focus moves to the error banner", async ({ browser }) => {
    const context = await contextFor(browser, { lang: "en", session: world.owner.session });
    const page = await context.newPage();
    await page.goto("/owner/coupons/new");
    await hydrated(page);
    await page.getByTestId("input-name").fill("Focus test");
    await page.getByTestId("input-price").fill("0");
    await page.getByTestId("input-stock").fill("5");
    await page.getByTestId("coupon-submit").click();

    const banner = page.getByTestId("form-error");
    await expect(banner).toBeVisible();
    await expect(banner).toBeFocused();

    const price = page.getByTestId("input-price");
    await expect(price).toHaveAttribute("aria-invalid", "true");
    const describedBy = (await price.getAttribute("aria-describedby")) ?? "";
    const message = page.getByTestId("error-price");
    expect(describedBy.split(" ")).toContain(await message.getAttribute("id"));
    const text = (await message.innerText()).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    await expect(price).toHaveAccessibleDescription(new RegExp(text));
    // A field that is fine is not described by an error.
    await expect(page.getByTestId("input-stock")).toHaveAttribute("aria-invalid", "false");
    expect(await page.getByTestId("input-stock").getAttribute("aria-describedby")).toBeNull();
    await context.close();
  });

  test("the log-in error banner takes the focus", async ({ browser }) => {
    const context = await contextFor(browser, { lang: "ko" });
    const page = await context.newPage();
    await page.goto("/login");
    await hydrated(page);
    await page.getByTestId("input-email").fill("nobody@e2e.coupan.test");
    await page.getByTestId("input-password").fill("wrong password");
    await page.getByTestId("input-password").press("Enter");
    await expect(page.getByTestId("form-error")).toBeFocused();
    await context.close();
  });

  test("the refund reason has a label, the chart a text alternative, the owner's tables headers", async ({ browser }) => {
    for (const lang of ["ko", "en"] as Lang[]) {
      const context = await contextFor(browser, { lang, session: world.owner.session });
      const page = await context.newPage();
      await page.goto("/owner/dashboard");
      await hydrated(page);
      // The reason is asked in the refund confirmation, under a real label.
      await page.getByTestId("recent-order").first().getByTestId("refund-order").click();
      const reason = page.getByTestId("refund-reason");
      await expect(reason).toBeVisible();
      await expect(reason).toHaveAccessibleName(lang === "en" ? "Reason for the customer (optional)" : "고객에게 보일 환불 사유 (선택)");
      expect(await reason.getAttribute("placeholder")).toBeNull();

      const chart = page.getByRole("img", { name: lang === "en" ? /sold for .*원 in the last 14 days/ : /최근 14일 동안 \d+개 판매/ });
      await expect(chart).toBeVisible();

      const orders = page.getByTestId("recent-orders");
      await expect(orders.getByRole("columnheader")).toHaveCount(7);
      await expect(orders.getByRole("columnheader").nth(1)).toHaveText(lang === "en" ? "Coupon name" : "쿠폰 이름");
      await expect(page.getByRole("navigation", { name: lang === "en" ? "Main menu" : "주 메뉴" })).toBeVisible();
      await context.close();
    }
  });
});

test.describe("keyboard only (Tab, Enter, Space)", () => {
  test("a customer finds a coupon, buys two with the stepper, and cancels the order", async ({ browser }) => {
    const context = await contextFor(browser, { lang: "en", session: world.customer.session });
    const page = await context.newPage();
    await page.goto(`/?q=${world.tag}`);
    await hydrated(page);

    await tabTo(page, page.getByRole("link", { name: world.americano.name, exact: true }));
    await page.keyboard.press("Enter");
    await expect(page).toHaveURL(new RegExp(`/coupons/${world.americano.id}$`));
    const quantity = page.getByTestId("input-quantity");
    await expect(quantity).toHaveValue("1");

    await tabTo(page, page.getByTestId("qty-plus"));
    await page.keyboard.press("Space");
    await expect(quantity).toHaveValue("2");
    await expect(page.getByTestId("buy-total-amount")).toHaveText("9,000원");
    await tabTo(page, page.getByTestId("buy-submit"));
    await page.keyboard.press("Enter");

    await expect(page).toHaveURL(/\/mypage$/);
    const newest = page.getByTestId("order-row").first();
    await expect(newest).toContainText(world.americano.name);
    await expect(newest.getByTestId("order-quantity")).toHaveText("2");
    const id = await newest.getAttribute("data-order-id");
    const row = page.locator(`[data-testid="order-row"][data-order-id="${id}"]`);

    // Cancelling asks first (the amount); both steps by keyboard.
    await tabTo(page, row.getByTestId("cancel-order"));
    await page.keyboard.press("Enter");
    await expect(row.getByTestId("cancel-confirm")).toContainText("9,000원");
    await tabTo(page, row.getByTestId("confirm-cancel"));
    await page.keyboard.press("Space");
    await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "cancelled");
    await context.close();
  });

  test("an owner redeems a voucher code", async ({ browser }) => {
    const context = await contextFor(browser, { lang: "ko", session: world.owner.session });
    const page = await context.newPage();
    await page.goto("/owner/dashboard");
    await hydrated(page);
    await tabTo(page, page.getByTestId("input-code"));
    await page.keyboard.type(world.freeCode);
    await page.keyboard.press("Enter");
    await expect(page.getByTestId("flash")).toContainText(world.freeCode);
    await context.close();
  });
});
