// Runs signed in as the admin the first-run project created (playwright.config.ts).
import { test, expect } from "./fixtures";

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the server renders the navigation and footer", async ({ page }) => {
    const response = await page.goto("/");
    expect(response?.status()).toBe(200);
    const nav = page.getByRole("navigation", { name: "Main" });
    await expect(nav.getByRole("link", { name: "Rooms" })).toHaveAttribute("href", "/rooms");
    await expect(nav.getByRole("link", { name: "API tokens" })).toHaveAttribute("href", "/tokens");
    await expect(nav.getByRole("link", { name: "Control plane" })).toHaveAttribute("href", "/control-plane");
    await expect(page.locator("footer .version")).toHaveText(/^v\d+\.\d+\.\d+/);
  });

  test("a room can be created with a plain form post", async ({ page }) => {
    await page.goto("/rooms");
    await page.getByLabel("Room name").fill("Made without script");
    await page.getByRole("button", { name: "Create room" }).click();
    await expect(page).toHaveURL(/\/rooms\/[0-9a-f-]{36}$/);
    await expect(page.getByRole("heading", { level: 1, name: "Made without script" })).toBeVisible();
    await expect(page.locator(".room-facts .visibility")).toHaveText("private");
  });

  test("unknown paths get a 404 page with the navigation", async ({ page }) => {
    const response = await page.goto("/no/such/page");
    expect(response?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
    await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  });
});

test.describe("after hydration", () => {
  test("the theme toggle switches and remembers the theme", async ({ page }) => {
    await page.goto("/");
    await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
    const toggle = page.getByRole("button", { name: "Dark theme" });
    await toggle.click();
    await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
    await expect(page.getByRole("button", { name: "Light theme" })).toHaveAttribute("aria-pressed", "true");

    await page.reload();
    await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
    await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  });
});
