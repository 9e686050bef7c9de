// The room's live stream: events between the page's rendering and the stream's start are not
// lost, because the rendered page carries the id of the newest event it includes.
import { test, expect, hydrated } from "./fixtures";
import type { Page } from "@playwright/test";

const connection = (page: Page) => page.getByRole("status", { name: "Connection" });

test("events between the page's rendering and the stream's start are not lost", async ({ page, request }) => {
  const created = await request.post("/api/rooms", { data: { name: "Slow start" } });
  const room = (await created.json()).id;
  // The browser bundle is held back, so the page sits rendered with no stream for a while.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/pkg/*.wasm", async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(`/rooms/${room}`);
  await expect(page.locator(".message--human")).toHaveCount(0);
  const posted = await request.post(`/api/rooms/${room}/messages`, { data: { content: "written meanwhile" } });
  expect(posted.status()).toBe(201);
  release();
  await hydrated(page);
  await expect(connection(page)).toHaveText("Live");
  await expect(page.locator(".message--human")).toHaveCount(1);
  await expect(page.locator(".message--human")).toContainText("written meanwhile");
});
