import { deflateSync } from "node:zlib";
import { expect, test, type Page } from "@playwright/test";
import { hydrated, signUpInBrowser, uniqueEmail } from "./helpers";

/** CRC-32 of PNG chunks. */
function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A `w` x `h` PNG drawn here: an orange field with a brown disc (a coffee seen from above). */
function coffeePng(w: number, h: number): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + w * 3);
    for (let x = 0; x < w; x++) {
      const inside = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / 3) ** 2;
      row.set(inside ? [90, 50, 25] : [240, 140, 60], 1 + x * 3);
    }
    rows.push(row);
  }
  const chunk = (kind: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(kind, "ascii"), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Waits until the coupon's <img> (by test id and alt text) shows a decoded picture. */
async function loaded(page: Page, testId: string, name: string) {
  const img = page.locator(`[data-testid="${testId}"][alt^="${name}"]`).first();
  await expect(img).toBeVisible();
  await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
}

test("an owner uploads a picture and it shows in the catalogue", async ({ page }) => {
  const name = `Picture Latte ${Date.now()}`;
  await page.goto("/signup");
  await hydrated(page);
  await signUpInBrowser(page, { role: "owner", email: uniqueEmail("pictures"), name: "Photo Owner", shop: "Photo Cafe" });
  await expect(page).toHaveURL(/\/owner\/coupons$/);

  await page.getByTestId("new-coupon").click();
  await page.getByTestId("input-name").fill(name);
  await page.getByTestId("input-price").fill("5500");
  await page.getByTestId("input-stock").fill("10");
  await page.getByTestId("coupon-submit").click();
  await expect(page).toHaveURL(/\/owner\/coupons$/);
  await page.getByTestId("my-coupon-row").filter({ hasText: name }).getByTestId("edit-coupon").click();
  await hydrated(page);

  // A bad file first: the page says why, nothing is added.
  await page.getByTestId("input-picture").setInputFiles({
    name: "notes.jpg",
    mimeType: "image/jpeg",
    buffer: Buffer.from("these are notes, not a photo"),
  });
  await page.getByTestId("picture-submit").click();
  await expect(page.getByTestId("picture-error")).toBeVisible();
  await expect(page.getByTestId("picture")).toHaveCount(0);

  await page.getByTestId("input-picture").setInputFiles({
    name: "latte.png",
    mimeType: "image/png",
    buffer: coffeePng(640, 480),
  });
  await page.getByTestId("picture-submit").click();
  await expect(page).toHaveURL(/pictures=added/);
  await expect(page.getByTestId("picture-status")).toBeVisible();
  await expect(page.getByTestId("picture")).toHaveCount(1);
  await expect(page.getByTestId("picture-cover")).toBeVisible();
  await hydrated(page);

  // The catalogue card shows its thumbnail, the coupon page the picture.
  await page.goto(`/?q=${encodeURIComponent(name)}`);
  await hydrated(page);
  const card = page.getByTestId("coupon-card").filter({ hasText: name });
  await expect(card.getByTestId("coupon-thumb")).toHaveAttribute("alt", new RegExp(`^${name}`));
  await loaded(page, "coupon-thumb", name);
  await card.getByTestId("coupon-name").click();
  await expect(page.getByTestId("coupon-gallery")).toBeVisible();
  await loaded(page, "gallery-image", name);
});
