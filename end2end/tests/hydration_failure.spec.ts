import { expect, test, type Page } from "@playwright/test";
import { PASSWORD, ownerWithCoupon, uniqueEmail } from "./helpers";

// Links and forms work before and without hydration, and a hydration that fails never
// leaves a page worse than no JavaScript: pages are server-rendered HTML with plain links
// and forms; only their islands (live figures, the buy box, the bell) need the wasm.

/** Breaks every page the browser loads (also after a redirect) once it is parsed, before
 * the wasm (fetched and started asynchronously) can hydrate it:
 * - "markers": removes the `<!>` placeholders the wasm expects, which is what a server
 *   built with other view flags than its wasm sends (the release panic of issue 10);
 * - "views": names other views than the bundle's in `<meta name="coupan-views">`. */
async function breakBeforeHydration(page: Page, how: "markers" | "views") {
  await page.addInitScript((how) => {
    document.addEventListener("DOMContentLoaded", () => {
      if (how === "views") {
        document.querySelector('meta[name="coupan-views"]')?.setAttribute("content", "other");
        return;
      }
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_COMMENT);
      const markers: Node[] = [];
      while (walker.nextNode()) if ((walker.currentNode as Comment).data === "") markers.push(walker.currentNode);
      for (const marker of markers) marker.parentNode?.removeChild(marker);
    });
  }, how);
}

function collect(page: Page) {
  const seen = { pageErrors: [] as string[], consoleErrors: [] as string[] };
  page.on("pageerror", (err) => seen.pageErrors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") seen.consoleErrors.push(msg.text());
  });
  return seen;
}

/** A link followed by the browser: a new document (a mark left on `window` is gone). */
async function followLinkAsBrowser(page: Page, testId: string, url: RegExp) {
  await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
  await page.getByTestId(testId).click();
  await expect(page).toHaveURL(url);
  await expect
    .poll(() => page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument ?? false))
    .toBe(false);
}

/** The log-in form posts and the server signs the customer in, as without JavaScript. */
async function logInAsBrowser(page: Page, request: import("@playwright/test").APIRequestContext) {
  const email = uniqueEmail("nohydrate");
  const signup = await request.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: "Unhydrated Customer", role: "customer" },
  });
  expect(signup.status()).toBe(201);
  await page.getByTestId("input-email").fill(email);
  await page.getByTestId("input-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("current-user")).toContainText("Unhydrated Customer");
}

test("after a hydration that panics, links and forms work as without JavaScript", async ({ page, request }) => {
  // The catalogue shows at least this coupon: its card's live figures are an island.
  await ownerWithCoupon(request, `Broken Hydration ${Date.now()}`);
  await breakBeforeHydration(page, "markers");
  const seen = collect(page);

  await page.goto("/");
  await expect.poll(() => seen.pageErrors.join("\n"), "hydration panicked").toMatch(/unreachable/);
  await expect(page.locator("body[data-hydrated]")).toHaveCount(0);

  await followLinkAsBrowser(page, "nav-login", /\/login$/);
  await expect(page.getByTestId("login-form")).toBeVisible();
  await logInAsBrowser(page, request);
  await followLinkAsBrowser(page, "nav-mypage", /\/mypage$/);
  await expect(page.getByTestId("no-orders")).toBeVisible();
  await page.getByTestId("logout").click();
  await expect(page.getByTestId("nav-login")).toBeVisible();
  // The catalogue's islands panicked while hydrating, and the page stayed usable.
  expect(seen.pageErrors.filter((e) => /unreachable/.test(e)).length).toBeGreaterThanOrEqual(1);
});

test("with a wasm that does not load, links and forms work as without JavaScript", async ({ page, request }) => {
  await page.route("**/*.wasm", (route) => route.abort());
  await page.goto("/");
  await expect(page.getByTestId("brand")).toBeVisible();
  await followLinkAsBrowser(page, "nav-login", /\/login$/);
  await logInAsBrowser(page, request);
  await expect(page.locator("body[data-hydrated]")).toHaveCount(0);
});

test("a page from a server built with other view flags is not hydrated, and keeps working", async ({
  page,
  request,
}) => {
  await breakBeforeHydration(page, "views");
  const seen = collect(page);

  await page.goto("/");
  await expect.poll(() => seen.consoleErrors.join("\n")).toContain("Coupan: not hydrating");
  await expect(page.locator("body[data-hydrated]")).toHaveCount(0);
  expect(seen.pageErrors).toEqual([]);

  await followLinkAsBrowser(page, "nav-login", /\/login$/);
  await logInAsBrowser(page, request);
});
