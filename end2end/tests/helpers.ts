import { expect, type APIRequestContext, type Page } from "@playwright/test";

export const PASSWORD = "e2e-password-123";

/** A unique e-mail per call, so tests never collide across runs. */
export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@e2e.coupan.test`;
}

/** Waits until the WASM bundle has hydrated the page (set by frontend/src/lib.rs), then
 * checks that the page broke no rule of its Content Security Policy. */
export async function hydrated(page: Page) {
  try {
    await expect(page.locator("body[data-hydrated=true]")).toBeAttached({ timeout: 30_000 });
  } catch (e) {
    // A panic while hydrating leaves its message in body[data-panic] (frontend/src/lib.rs).
    const panic = await page.locator("body").getAttribute("data-panic").catch(() => null);
    throw new Error(`not hydrated${panic ? ` (panic: ${panic})` : ""}: ${e}`);
  }
  expect(await cspViolations(page), "Content Security Policy violations").toEqual([]);
}

/** The CSP violations the current page has reported so far (Chromium buffers them for a
 * ReportingObserver created later), plus any the console showed since the first check. */
export async function cspViolations(page: Page): Promise<string[]> {
  const state = page as Page & { __cspConsole?: string[] };
  if (!state.__cspConsole) {
    const seen: string[] = [];
    state.__cspConsole = seen;
    page.on("console", (msg) => {
      if (msg.type() === "error" && /Content Security Policy/i.test(msg.text())) seen.push(msg.text());
    });
  }
  const reported = await page.evaluate(
    () =>
      new Promise<string[]>((resolve) => {
        const found: string[] = [];
        const describe = (reports: Report[]) => {
          for (const r of reports) {
            const b = r.body as unknown as { effectiveDirective?: string; blockedURL?: string; sample?: string };
            found.push(`${b.effectiveDirective} blocked ${b.blockedURL ?? ""} ${b.sample ?? ""}`.trim());
          }
        };
        const observer = new ReportingObserver((reports) => describe(reports), {
          types: ["csp-violation"],
          buffered: true,
        });
        observer.observe();
        setTimeout(() => {
          describe(observer.takeRecords());
          observer.disconnect();
          resolve(found);
        }, 200);
      }),
  );
  return [...reported, ...state.__cspConsole];
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
