import { expect, request as playwrightRequest, type APIRequestContext, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { PASSWORD, uniqueEmail } from "./helpers";

/** A shop with orders in every state, built through the JSON API, and browser sessions of
 * its owner and its customer (logged in once, then reused: sign-up, log-in and token
 * requests are rate limited per IP). */
export type World = {
  tag: string;
  owner: { email: string; token: string; session: StorageState };
  customer: { email: string; token: string; session: StorageState };
  /** On sale, plenty left, a long description (the buy bar starts below the fold). */
  americano: Coupon;
  /** One unit, bought: sold out. */
  cake: Coupon;
  /** At most 3 per customer; the customer holds 1. */
  bingsu: Coupon;
  /** The order whose voucher the owner redeemed (one of its two codes). */
  redeemedOrder: string;
  /** A code of that order still unused (for the redeem journey). */
  freeCode: string;
};
type Coupon = { id: string; name: string; price: number };
type StorageState = Awaited<ReturnType<APIRequestContext["storageState"]>>;

export const baseURL = process.env.COUPAN_E2E_URL ?? "http://127.0.0.1:3100";

/** A POST to an auth endpoint, waiting out the per-IP rate limit if a busy suite hit it. */
async function authPost(api: APIRequestContext, path: string, opts: Parameters<APIRequestContext["post"]>[1]) {
  for (let attempt = 0; ; attempt++) {
    const res = await api.post(path, opts);
    if (res.status() !== 429 || attempt >= 6) return res;
    const wait = Number(res.headers()["retry-after"] ?? "5");
    await new Promise((r) => setTimeout(r, Math.min(Math.max(wait, 1), 30) * 1000));
  }
}

async function account(role: "owner" | "customer", tag: string) {
  const email = uniqueEmail(`${role}-${tag}`.toLowerCase().replace(/[^a-z0-9-]/g, ""));
  // As the site's own forms: a log-in from any other origin is refused (server/src/csrf.rs).
  const api = await playwrightRequest.newContext({ baseURL, extraHTTPHeaders: { origin: new URL(baseURL).origin } });
  const data = { email, password: PASSWORD, name: role === "owner" ? "Owner Kim" : "Customer Lee", role, shop_name: role === "owner" ? `${tag} Cafe` : undefined };
  expect((await authPost(api, "/api/v1/auth/signup", { data })).status()).toBe(201);
  const tokenRes = await authPost(api, "/api/v1/auth/token", { data: { email, password: PASSWORD } });
  expect(tokenRes.status()).toBe(200);
  const token = (await tokenRes.json()).access_token as string;
  // A browser session: the log-in form's server function sets the session cookie.
  const login = await authPost(api, "/sfn/auth/login", { form: { email, password: PASSWORD }, maxRedirects: 0 });
  expect(login.status(), await login.text()).toBeLessThan(400);
  const session = await api.storageState();
  expect(session.cookies.map((c) => c.name)).toContain("coupan_session");
  await api.dispose();
  return { email, token, session };
}

export async function buildWorld(api: APIRequestContext): Promise<World> {
  const tag = `W${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const owner = await account("owner", tag);
  const customer = await account("customer", tag);
  const asOwner = { Authorization: `Bearer ${owner.token}` };
  const asCustomer = { Authorization: `Bearer ${customer.token}` };
  const coupon = async (body: Record<string, unknown>): Promise<Coupon> => {
    const res = await api.post("/api/v1/coupons", { data: body, headers: asOwner });
    expect(res.status(), await res.text()).toBe(201);
    const c = await res.json();
    return { id: c.id, name: c.name, price: c.price };
  };
  const long = "Any size, hot or iced. Show the code at the counter; one code is one drink. ".repeat(8);
  const americano = await coupon({ name: `${tag} Americano`, description: long, price: 4500, stock: 50 });
  const cake = await coupon({ name: `${tag} Cake`, description: "Cheesecake slice", price: 6000, stock: 1 });
  const bingsu = await coupon({ name: `${tag} Bingsu`, description: "Shaved ice", price: 12000, stock: 20, per_customer_limit: 3 });

  const buy = async (c: Coupon, quantity: number) => {
    const res = await api.post("/api/v1/orders", {
      data: { coupon_id: c.id, quantity },
      headers: { ...asCustomer, "Idempotency-Key": `${tag}-${c.id}-${Math.random()}` },
    });
    expect(res.status(), await res.text()).toBe(201);
    return (await res.json()).id as string;
  };
  const redeemedOrder = await buy(americano, 2);
  const cancelled = await buy(americano, 1);
  const refunded = await buy(americano, 1);
  await buy(cake, 1);
  await buy(bingsu, 1);

  // Wait until the payment worker has paid all five.
  let items: { order_id: string; status: string; vouchers: { code: string }[] }[] = [];
  await expect(async () => {
    items = (await (await api.get("/api/v1/mypage", { headers: asCustomer })).json()).items;
    expect(items.filter((i) => i.status === "paid")).toHaveLength(5);
  }).toPass({ timeout: 30_000 });

  const codes = items.find((i) => i.order_id === redeemedOrder)!.vouchers.map((v) => v.code);
  const redeem = await api.post("/api/v1/vouchers/redeem", { data: { code: codes[0] }, headers: asOwner });
  expect(redeem.status(), await redeem.text()).toBe(200);
  expect((await api.post(`/api/v1/orders/${cancelled}/cancel`, { headers: asCustomer })).status()).toBe(200);
  const refund = await api.post(`/api/v1/owner/orders/${refunded}/refund`, { data: { reason: "Machine broken" }, headers: asOwner });
  expect(refund.status(), await refund.text()).toBe(200);

  return { tag, owner, customer, americano, cake, bingsu, redeemedOrder, freeCode: codes[1] };
}

export type Lang = "ko" | "en";
export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** A browser context in `lang`, optionally signed in with a stored session. */
export async function contextFor(
  browser: Browser,
  opts: { lang: Lang; viewport?: { width: number; height: number }; session?: StorageState; javaScriptEnabled?: boolean },
): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL,
    viewport: opts.viewport ?? DESKTOP,
    storageState: opts.session,
    locale: opts.lang === "ko" ? "ko-KR" : "en-US",
    javaScriptEnabled: opts.javaScriptEnabled ?? true,
    isMobile: (opts.viewport ?? DESKTOP).width < 600,
    hasTouch: (opts.viewport ?? DESKTOP).width < 600,
  });
  await context.addCookies([{ name: "i18n_pref_locale", value: opts.lang, url: baseURL }]);
  return context;
}

/** Presses Tab until `target` has the focus (at most `max` times); fails otherwise. */
export async function tabTo(page: Page, target: ReturnType<Page["locator"]>, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
  }
  throw new Error(`Tab never reached ${target}`);
}
