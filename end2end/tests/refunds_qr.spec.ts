import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { hydrated, logInInBrowser, PASSWORD, signUpInBrowser, uniqueEmail } from "./helpers";

// Issue 13, sections 3 and 4: a customer cancels part of an order (the refund shown before
// confirming), keeps the other units as vouchers with QR codes, and the shop scans one (a
// hardware scanner types the code and Enter) and sees whose it is.

async function ownerAndCoupon(request: APIRequestContext, name: string, price: number) {
  const email = uniqueEmail("qr-owner");
  const signup = await request.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: "QR Owner", role: "owner", shop_name: `Shop ${name}` },
  });
  expect(signup.status()).toBe(201);
  const token = (await (await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } })).json()).access_token;
  const coupon = await request.post("/api/v1/coupons", {
    data: { name, description: "QR vouchers", price, stock: 10 },
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(coupon.status()).toBe(201);
  return { email, coupon: await coupon.json() };
}

/// Every QR image in `row` has loaded (an SVG the server made).
async function qrImagesLoaded(page: Page, row: ReturnType<Page["getByTestId"]>) {
  const images = row.getByTestId("voucher-qr");
  for (let i = 0; i < (await images.count()); i++) {
    await expect.poll(() => images.nth(i).evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
  }
}

for (const js of [true, false]) {
  const mode = js ? "with JavaScript" : "without JavaScript";
  test.describe(mode, () => {
    test.use({ javaScriptEnabled: js, locale: "ko-KR" });

    test(`buy 3, cancel 1, show 2 QR vouchers; the shop scans one (${mode})`, async ({ page, browser, request }, testInfo) => {
      const name = `QR 라떼 ${js ? "js" : "nojs"} ${Date.now()}`;
      const { email: ownerEmail, coupon } = await ownerAndCoupon(request, name, 4000);

      await signUpInBrowser(page, { role: "customer", email: uniqueEmail("qr-buyer"), name: "김손님" });
      await expect(page.getByTestId("current-user")).toBeVisible();
      await page.goto(`/coupons/${coupon.id}`);
      if (js) await hydrated(page);
      await page.getByTestId("input-quantity").fill("3");
      await page.getByTestId("buy-submit").click();
      await expect(page).toHaveURL(/\/mypage$/);
      const row = page.getByTestId("order-row").filter({ hasText: name });
      await expect(async () => {
        if (!js) await page.reload();
        await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "paid", { timeout: 1000 });
      }).toPass({ timeout: 20_000 });
      await expect(row.getByTestId("voucher-qr")).toHaveCount(3);

      // Cancel one unit: the page says what comes back before the customer confirms.
      await row.getByTestId("cancel-order").click();
      await expect(row.getByTestId("cancel-confirm")).toBeVisible();
      await row.getByTestId("cancel-units").selectOption("1");
      await row.getByTestId("cancel-units-show").click();
      await expect(row.getByTestId("refund-quote")).toHaveAttribute("data-amount", "4000");
      await expect(row.getByTestId("refund-quote")).toContainText("4,000원");
      await row.getByTestId("confirm-cancel").click();

      await expect(row.getByTestId("cancelled-quantity")).toHaveText("1");
      await expect(row.getByTestId("refunded-amount")).toHaveText("4,000원");
      await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "paid");
      await expect(row.locator('[data-testid="voucher"][data-status="active"]')).toHaveCount(2);
      await expect(row.locator('[data-testid="voucher"][data-status="cancelled"]')).toHaveCount(1);
      await expect(row.getByTestId("voucher-qr")).toHaveCount(2);
      await qrImagesLoaded(page, row);
      await row.locator(".vouchers").screenshot({ path: testInfo.outputPath(`mypage-vouchers-qr-${js ? "js" : "nojs"}.png`) });

      // The full-screen view to show at the counter.
      const code = (await row.locator('[data-testid="voucher"][data-status="active"]').first().getByTestId("voucher-code").textContent())!.trim();
      await row.locator('[data-testid="voucher"][data-status="active"]').first().getByTestId("voucher-open").click();
      await expect(page).toHaveURL(new RegExp(`/mypage/vouchers/${code}$`));
      await expect(page.getByTestId("voucher-code")).toHaveText(code);
      await expect.poll(() => page.getByTestId("voucher-qr-large").evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
      await page.screenshot({ path: testInfo.outputPath(`voucher-page-${js ? "js" : "nojs"}.png`) });

      // The shop: the scanner types the code into the focused field and presses Enter.
      const shop = await browser.newContext({ javaScriptEnabled: js, locale: "ko-KR" });
      const counter = await shop.newPage();
      await logInInBrowser(counter, ownerEmail);
      await expect(counter).toHaveURL(/\/owner\/dashboard$/);
      if (js) await hydrated(counter);
      await expect(counter.getByTestId("input-code")).toBeFocused();
      await counter.keyboard.type(code);
      await counter.keyboard.press("Enter");
      await expect(counter.getByTestId("flash")).toHaveAttribute("data-flash", "redeemed");
      await expect(counter.getByTestId("flash")).toContainText(code);
      await expect(counter.getByTestId("flash")).toContainText(name);
      await expect(counter.getByTestId("flash")).toContainText("김손님");
      await shop.close();

      // Back on my page: that voucher is used, one QR is left.
      await page.goto("/mypage");
      await expect(row.locator('[data-testid="voucher"][data-status="redeemed"]')).toHaveCount(1);
      await expect(row.getByTestId("voucher-qr")).toHaveCount(1);
    });
  });
}
