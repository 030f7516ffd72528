import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { hydrated, logInInBrowser, ownerWithCoupon, PASSWORD, signUpInBrowser, uniqueEmail } from "./helpers";

// Forms that keep what was typed and say what happened: every journey with JavaScript
// (hydrated) and without it (plain form posts, server-rendered answers).

test.use({ locale: "en-US" });

async function apiToken(request: APIRequestContext, email: string) {
  const res = await request.post("/api/v1/auth/token", { data: { email, password: PASSWORD } });
  expect(res.status()).toBe(200);
  return (await res.json()).access_token as string;
}

/** A customer (API) with a paid order of `coupon`; returns the customer's e-mail. */
async function customerWithPaidOrder(request: APIRequestContext, couponId: string, quantity: number) {
  const email = uniqueEmail("forms-buyer");
  expect((await request.post("/api/v1/auth/signup", { data: { email, password: PASSWORD, name: "Forms Buyer", role: "customer" } })).status()).toBe(201);
  const token = await apiToken(request, email);
  const buy = await request.post("/api/v1/orders", {
    data: { coupon_id: couponId, quantity },
    headers: { Authorization: `Bearer ${token}`, "Idempotency-Key": `forms-${Date.now()}-${Math.random()}` },
  });
  expect(buy.status()).toBe(201);
  await expect(async () => {
    const items = (await (await request.get("/api/v1/mypage", { headers: { Authorization: `Bearer ${token}` } })).json()).items;
    expect(items[0].status).toBe("paid");
  }).toPass({ timeout: 15_000 });
  return email;
}

/** An owner made through the API with one coupon; returns its e-mail and the coupon. */
async function ownerAndCoupon(request: APIRequestContext, name: string, price: number) {
  const email = uniqueEmail("forms-owner");
  expect((await request.post("/api/v1/auth/signup", { data: { email, password: PASSWORD, name: "Forms Owner", role: "owner", shop_name: `Shop ${name}` } })).status()).toBe(201);
  const token = await apiToken(request, email);
  const coupon = await (await request.post("/api/v1/coupons", { data: { name, price, stock: 10 }, headers: { Authorization: `Bearer ${token}` } })).json();
  return { email, coupon };
}

async function signUpOwnerWithoutShop(page: Page, email: string) {
  // The shop name is asked of owners only.
  await expect(page.getByTestId("input-shop_name")).toBeHidden();
  await page.getByTestId("role-owner").check();
  await expect(page.getByTestId("input-shop_name")).toBeVisible();
  await page.getByTestId("role-customer").check();
  await expect(page.getByTestId("input-shop_name")).toBeHidden();
  await page.getByTestId("role-owner").check();
  await page.getByTestId("input-email").fill(email);
  await page.getByTestId("input-password").fill(PASSWORD);
  await page.getByTestId("input-name").fill("Park Owner");
  await page.getByTestId("signup-submit").click();
}

for (const js of [true, false]) {
  const mode = js ? "with JavaScript" : "without JavaScript";
  test.describe(mode, () => {
    test.use({ javaScriptEnabled: js });

    async function open(page: Page, path: string) {
      await page.goto(path);
      if (js) await hydrated(page);
    }

    test(`a failed sign-up and log-in keep what was typed, never the password (${mode})`, async ({ page }) => {
      const email = uniqueEmail(js ? "keep-js" : "keep-nojs");
      await open(page, "/signup");
      await signUpOwnerWithoutShop(page, email);
      await expect(page.getByTestId("error-shop_name")).toBeVisible();
      await expect(page.getByTestId("input-email")).toHaveValue(email);
      await expect(page.getByTestId("input-name")).toHaveValue("Park Owner");
      await expect(page.getByTestId("role-owner")).toBeChecked();
      await expect(page.getByTestId("input-shop_name")).toBeVisible();
      await expect(page.getByTestId("input-password")).toHaveValue("");
      // Fixing the one field is enough.
      await page.getByTestId("input-password").fill(PASSWORD);
      await page.getByTestId("input-shop_name").fill("Park Bakery");
      await page.getByTestId("signup-submit").click();
      await expect(page).toHaveURL(/\/owner\/coupons$/);
      await expect(page.getByTestId("flash")).toHaveAttribute("data-flash", "signed_up");
      await expect(page.getByTestId("flash")).toContainText("register your first coupon");

      await page.getByTestId("logout").click();
      await expect(page.getByTestId("nav-login")).toBeVisible();
      await open(page, "/login");
      await page.getByTestId("input-email").fill(email);
      await page.getByTestId("input-password").fill("not the password");
      await page.getByTestId("login-submit").click();
      await expect(page.getByTestId("form-error")).toContainText("Wrong e-mail or password");
      await expect(page.getByTestId("input-email")).toHaveValue(email);
      await expect(page.getByTestId("input-password")).toHaveValue("");
      // Owners land on their dashboard.
      await page.getByTestId("input-password").fill(PASSWORD);
      await page.getByTestId("login-submit").click();
      await expect(page).toHaveURL(/\/owner\/dashboard$/);
    });

    test(`the coupon form keeps its fields, takes 6,000원 and says what happened (${mode})`, async ({ page }) => {
      const name = `Forms Bingsu ${js ? "js" : "nojs"} ${Date.now()}`;
      await open(page, "/signup");
      await signUpInBrowser(page, { role: "owner", email: uniqueEmail("coupon-form"), name: "Lee Owner", shop: "Lee Desserts" });
      await expect(page).toHaveURL(/\/owner\/coupons$/);

      await open(page, "/owner/coupons/new");
      await page.getByTestId("input-name").fill(name);
      await page.getByTestId("input-description").fill("Shaved ice for two");
      await page.getByTestId("input-price").fill("six thousand");
      await page.getByTestId("input-stock").fill("1,000");
      await page.getByTestId("input-per_customer_limit").fill("2");
      await page.getByTestId("coupon-submit").click();
      await expect(page.getByTestId("error-price")).toContainText("Digits only");
      await expect(page.getByTestId("input-name")).toHaveValue(name);
      await expect(page.getByTestId("input-description")).toHaveValue("Shaved ice for two");
      await expect(page.getByTestId("input-price")).toHaveValue("six thousand");
      await expect(page.getByTestId("input-stock")).toHaveValue("1,000");
      await expect(page.getByTestId("input-per_customer_limit")).toHaveValue("2");

      await page.getByTestId("input-price").fill("6,000원");
      await page.getByTestId("coupon-submit").click();
      await expect(page).toHaveURL(/\/owner\/coupons$/);
      await expect(page.getByTestId("flash")).toHaveAttribute("data-flash", "coupon_created");
      await expect(page.getByTestId("flash")).toContainText(name);
      const row = page.getByTestId("my-coupon-row").filter({ hasText: name });
      await expect(row).toContainText("6,000원");

      // Edit: a failed save keeps the edit, a good one says so.
      await row.getByTestId("edit-coupon").click();
      await expect(page.getByTestId("input-price")).toHaveValue("6000");
      if (js) await hydrated(page);
      await expect(page.getByTestId("flash")).toHaveCount(0);
      await page.getByTestId("input-price").fill("0");
      await page.getByTestId("input-stock").fill("7");
      await page.getByTestId("coupon-submit").click();
      await expect(page.getByTestId("error-price")).toBeVisible();
      await expect(page.getByTestId("input-stock")).toHaveValue("7");
      await expect(page.getByTestId("input-price")).toHaveValue("0");
      await page.getByTestId("input-price").fill("6500");
      await page.getByTestId("coupon-submit").click();
      await expect(page).toHaveURL(/\/owner\/coupons$/);
      await expect(page.getByTestId("flash")).toHaveAttribute("data-flash", "coupon_saved");
      await expect(page.getByTestId("my-coupon-row").filter({ hasText: name })).toContainText("6,500원");

      await page.getByTestId("my-coupon-row").filter({ hasText: name }).getByTestId("toggle-sale").click();
      await expect(page.getByTestId("flash")).toHaveAttribute("data-flash", "sales_stopped");
      await expect(page.getByTestId("flash")).toContainText(name);
      // One time only.
      await open(page, "/owner/coupons");
      await expect(page.getByTestId("flash")).toHaveCount(0);
    });

    test(`"log in to buy" comes back to the coupon, through sign-up too (${mode})`, async ({ page, request }) => {
      const name = `Forms Kimbap ${js ? "js" : "nojs"} ${Date.now()}`;
      const coupon = await ownerWithCoupon(request, name, 3000);
      await open(page, `/coupons/${coupon.id}`);
      await page.getByTestId("login-to-buy").click();
      await expect(page).toHaveURL(new RegExp(`/login\\?next=%2Fcoupons%2F${coupon.id}$`));
      await page.getByTestId("signup-link").click();
      await expect(page).toHaveURL(/\/signup\?next=/);
      if (js) await hydrated(page);
      await page.getByTestId("role-customer").check();
      await page.getByTestId("input-email").fill(uniqueEmail("next"));
      await page.getByTestId("input-password").fill(PASSWORD);
      await page.getByTestId("input-name").fill("Next Buyer");
      await page.getByTestId("signup-submit").click();
      await expect(page).toHaveURL(new RegExp(`/coupons/${coupon.id}$`));
      await expect(page.getByTestId("buy-form")).toBeVisible();
    });

    test(`cancelling asks first, shows the amount, and my page tells who cancelled (${mode})`, async ({ page, request }) => {
      const name = `Forms Latte ${js ? "js" : "nojs"} ${Date.now()}`;
      const coupon = await ownerWithCoupon(request, name, 6000);
      await open(page, "/signup");
      await signUpInBrowser(page, { role: "customer", email: uniqueEmail("cancel"), name: "Cancel Buyer" });
      await expect(page.getByTestId("current-user")).toBeVisible();

      await open(page, `/coupons/${coupon.id}`);
      await page.getByTestId("input-quantity").fill("2");
      await page.getByTestId("buy-submit").click();
      await expect(page).toHaveURL(/\/mypage$/);
      const row = page.getByTestId("order-row").filter({ hasText: name });
      // The page updates itself until paid (polling, or a meta refresh without JavaScript;
      // server/tests/api/forms.rs pins the note and the refresh while pending).
      await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "paid");
      await expect(page.getByTestId("pending-note")).toHaveCount(0);
      await expect(row.getByTestId("voucher-code")).toHaveCount(2);
      await expect(row.getByTestId("voucher-void")).toHaveCount(0);

      await row.getByTestId("cancel-order").click();
      await expect(row.getByTestId("cancel-confirm")).toContainText("12,000원 will be refunded");
      // Going back changes nothing.
      await row.getByTestId("keep-order").click();
      await expect(row.getByTestId("cancel-confirm")).toHaveCount(0);
      await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "paid");

      await row.getByTestId("cancel-order").click();
      await row.getByTestId("confirm-cancel").click();
      await expect(page).toHaveURL(/\/mypage$/);
      await expect(page.getByTestId("flash")).toHaveAttribute("data-flash", "cancelled");
      await expect(page.getByTestId("flash")).toContainText("12,000원 will be refunded");
      await expect(row.getByTestId("order-status")).toHaveAttribute("data-status", "cancelled");
      await expect(row.getByTestId("cancelled-by")).toHaveAttribute("data-by", "customer");
      await expect(row.getByTestId("voucher-void")).toHaveCount(2);
      await expect(row.getByTestId("payment-status")).toHaveAttribute("data-status", "refunded");
    });

    test(`the owner refunds after a confirmation; the customer sees the shop's reason (${mode})`, async ({ page, request, browser }) => {
      const name = `Forms Donut ${js ? "js" : "nojs"} ${Date.now()}`;
      const { email, coupon } = await ownerAndCoupon(request, name, 4000);
      const customerEmail = await customerWithPaidOrder(request, coupon.id, 3);

      await logInInBrowser(page, email);
      await expect(page).toHaveURL(/\/owner\/dashboard$/);
      if (js) await hydrated(page);
      const order = page.getByTestId("recent-order").filter({ hasText: name });
      await order.getByTestId("refund-order").click();
      await expect(page.getByTestId("refund-question")).toContainText("12,000원");
      await page.getByLabel("Reason for the customer (optional)").fill("Out of dough today");
      await expect(page.getByTestId("refund-confirm")).toHaveText("Refund 12,000원");
      await page.getByTestId("refund-confirm").click();
      await expect(page).toHaveURL(/\/owner\/dashboard$/);
      await expect(page.getByTestId("flash")).toHaveAttribute("data-flash", "refunded");
      await expect(page.getByTestId("flash")).toContainText("12,000원");
      await expect(page.getByTestId("refund-confirm")).toHaveCount(0);

      const context = await browser.newContext({ javaScriptEnabled: js, locale: "en-US" });
      const customer = await context.newPage();
      await logInInBrowser(customer, customerEmail);
      await expect(customer.getByTestId("current-user")).toBeVisible();
      await customer.goto("/mypage");
      const row = customer.getByTestId("order-row").filter({ hasText: name });
      await expect(row.getByTestId("cancelled-by")).toHaveAttribute("data-by", "owner");
      await expect(row.getByTestId("cancelled-by")).toContainText("Refunded by the shop.");
      await expect(row.getByTestId("cancel-reason")).toHaveText("Reason: Out of dough today");
      await expect(row.getByTestId("voucher-void")).toHaveCount(3);
      await context.close();
    });

    test(`redeeming: an unknown code says so and stays; a good one says what was redeemed (${mode})`, async ({ page, request }) => {
      const name = `Forms Bagel ${js ? "js" : "nojs"} ${Date.now()}`;
      const { email, coupon } = await ownerAndCoupon(request, name, 3000);
      const customerEmail = await customerWithPaidOrder(request, coupon.id, 1);
      const token = await apiToken(request, customerEmail);
      const code = (await (await request.get("/api/v1/mypage", { headers: { Authorization: `Bearer ${token}` } })).json()).items[0].vouchers[0].code;

      await logInInBrowser(page, email);
      await expect(page).toHaveURL(/\/owner\/dashboard$/);
      await open(page, "/owner/dashboard");
      await page.getByTestId("input-code").fill("ZZZZ-ZZZZ-ZZZZ-ZZZZ");
      await page.getByTestId("redeem-submit").click();
      await expect(page.getByTestId("form-error")).toHaveText("No voucher has this code.");
      await expect(page.getByTestId("input-code")).toHaveValue("ZZZZ-ZZZZ-ZZZZ-ZZZZ");

      await page.getByTestId("input-code").fill(code);
      await page.getByTestId("redeem-submit").click();
      await expect(page.getByTestId("flash")).toHaveAttribute("data-flash", "redeemed");
      await expect(page.getByTestId("flash")).toContainText(code);
      await expect(page.getByTestId("form-error")).toHaveCount(0);
      await expect(page.getByTestId("input-code")).toHaveValue("");
    });

    test(`pages have their own titles and error pages a way on (${mode})`, async ({ page }) => {
      await open(page, "/login");
      await expect(page).toHaveTitle("Log in · Coupan");
      await open(page, "/nowhere");
      await expect(page).toHaveTitle("Page not found · Coupan");
      await page.getByTestId("go-home").click();
      await expect(page).toHaveURL(/\/$/);
      await expect(page).toHaveTitle("Coupons from the shops around you · Coupan");
      await open(page, "/mypage");
      await expect(page).toHaveTitle("My page · Coupan");
      await page.getByTestId("go-login").click();
      await expect(page).toHaveURL(/\/login\?next=%2Fmypage$/);
      const icon = await page.request.get("/favicon.svg");
      expect(icon.status()).toBe(200);
      expect(icon.headers()["content-type"]).toContain("image/svg+xml");
    });
  });
}

test.describe("in Korean", () => {
  test.use({ locale: "ko-KR" });
  test("titles and messages follow the language", async ({ page }) => {
    await page.goto("/mypage");
    await hydrated(page);
    await expect(page).toHaveTitle("마이페이지 · 쿠판");
    await page.goto("/owner/coupons/new");
    await expect(page).toHaveTitle("쿠폰 등록 · 쿠판");
    await page.goto("/signup");
    await hydrated(page);
    await signUpOwnerWithoutShop(page, uniqueEmail("ko"));
    await expect(page.getByTestId("role-owner")).toBeChecked();
    // The form came back from the server: it never sends a password back.
    await page.getByTestId("input-password").fill(PASSWORD);
    await page.getByTestId("input-shop_name").fill("김밥천국");
    await page.getByTestId("signup-submit").click();
    await expect(page.getByTestId("flash")).toContainText("첫 쿠폰을 등록해 보세요");
    await expect(page).toHaveTitle("내 쿠폰 관리 · 쿠판");
  });
});

test("a plain form says it is on its way and posts once, however often it is clicked", async ({ page, request }) => {
  const email = uniqueEmail("forms-once");
  expect((await request.post("/api/v1/auth/signup", { data: { email, password: PASSWORD, name: "Once Owner", role: "owner", shop_name: "Once Bakery" } })).status()).toBe(201);
  await logInInBrowser(page, email);
  await expect(page).toHaveURL(/\/owner\/dashboard$/);
  await page.goto("/owner/coupons/new");
  await hydrated(page);
  const name = `Once Cake ${Date.now()}`;
  await page.getByTestId("input-name").fill(name);
  await page.getByTestId("input-price").fill("5000");
  await page.getByTestId("input-stock").fill("5");

  // Hold the form's post until the page has been looked at.
  let posts = 0;
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/sfn/**", async (route) => {
    if (route.request().method() === "POST") {
      posts += 1;
      await held;
    }
    await route.continue();
  });
  const submit = page.getByTestId("coupon-submit");
  await expect(submit).toHaveText("Register");
  // A double click, then a look at the form while its post is held (read by the test
  // from sessionStorage once the next page is there: while a form's navigation is under
  // way the test cannot read the page it leaves).
  const looked = page.waitForRequest((r) => r.url().includes("/readyz?looked"));
  await page.evaluate(() => {
    const button = document.querySelector("[data-testid=coupon-submit]") as HTMLButtonElement;
    const form = button.form as HTMLFormElement;
    button.click();
    button.click();
    setTimeout(() => {
      sessionStorage.setItem(
        "looked",
        JSON.stringify({ disabled: button.disabled, text: button.textContent, busy: form.getAttribute("aria-busy") }),
      );
      void fetch("/readyz?looked");
    }, 50);
  });
  await looked;
  release();
  await expect(page).toHaveURL(/\/owner\/coupons$/);
  const seen = JSON.parse((await page.evaluate(() => sessionStorage.getItem("looked"))) ?? "{}");
  expect(seen).toEqual({ disabled: true, text: "Saving…", busy: "true" });
  expect(posts).toBe(1);
  await expect(page.getByTestId("my-coupon-row").filter({ hasText: name })).toHaveCount(1);

  // Back to the form from the next page: usable again, not stuck on "Saving…".
  await page.goBack();
  await expect(page.getByTestId("coupon-submit")).toBeEnabled();
  await expect(page.getByTestId("coupon-submit")).toHaveText("Register");
});
