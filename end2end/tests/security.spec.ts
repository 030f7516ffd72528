import { expect, test } from "@playwright/test";
import { PASSWORD, uniqueEmail } from "./helpers";

// Log-in CSRF: a page of another site posts the log-in form with the attacker's account,
// so that the visitor would use the site as the attacker. Chromium sends that page's
// origin (here an opaque one, `null`) and the server refuses the form with a page.
test("a log-in form posted from another site is refused", async ({ page, request, baseURL }) => {
  const email = uniqueEmail("csrf");
  const signup = await request.post("/api/v1/auth/signup", {
    data: { email, password: PASSWORD, name: "Attacker", role: "customer" },
  });
  expect(signup.status()).toBe(201);

  await page.setContent(
    `<form method="post" action="${baseURL}/sfn/auth/login">
       <input name="email" value="${email}"><input name="password" value="${PASSWORD}">
       <button type="submit" data-testid="forged">go</button>
     </form>`,
  );
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/sfn/auth/login")),
    page.getByTestId("forged").click(),
  ]);
  expect(response.status()).toBe(403);
  await expect(page.getByTestId("cross-site-refused")).toBeVisible();

  // Nobody was signed in.
  await page.goto("/");
  await expect(page.getByTestId("nav-login")).toBeVisible();
  const cookies = await page.context().cookies();
  expect(cookies.filter((c) => c.name.endsWith("coupan_session"))).toEqual([]);
});
