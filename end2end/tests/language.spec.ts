import { expect, test } from "@playwright/test";
import { hydrated } from "./helpers";

test.use({ locale: "en-US" });

test("the language switch changes the UI and persists", async ({ page }) => {
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByTestId("nav-login")).toHaveText("Log in");

  await page.getByTestId("lang-ko").click();
  await expect(page.getByTestId("nav-login")).toHaveText("로그인");
  await expect(page.locator("html")).toHaveAttribute("lang", "ko");

  await page.reload();
  await expect(page.getByTestId("nav-login")).toHaveText("로그인");
  await page.goto("/signup");
  await expect(page.getByTestId("signup-submit")).toHaveText("가입하기");

  await page.getByTestId("lang-en").click();
  await expect(page.getByTestId("nav-login")).toHaveText("Log in");
});

test.describe("with a Korean browser", () => {
  test.use({ locale: "ko-KR" });
  test("Accept-Language picks Korean on the first visit", async ({ page }) => {
    await page.goto("/");
    await expect(page.getByTestId("nav-login")).toHaveText("로그인");
  });
});
