import { test, expect } from "@playwright/test";
import { ADMIN, adminState, hydrated } from "./fixtures";

// Runs first, on the server's empty database; every other test starts signed in as this admin.
test("a new installation offers the first account, which becomes the admin", async ({ page, browser }) => {
  await page.goto("/");
  const offer = page.getByRole("region", { name: "Create the first account" });
  await expect(offer).toContainText("becomes the admin");
  await hydrated(page);
  await offer.getByLabel("Name", { exact: true }).fill(ADMIN.name);
  await offer.getByLabel("Email", { exact: true }).fill(ADMIN.email);
  await offer.getByLabel("Password", { exact: true }).fill(ADMIN.password);
  await offer.getByRole("button", { name: "Create account" }).click();

  // One form, and the newcomer is in, as the admin.
  await expect(page).toHaveURL(/\/rooms$/);
  await expect(page.locator(".app-header .who")).toHaveText(ADMIN.name);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Users" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Control plane" })).toBeVisible();

  await page.context().storageState({ path: adminState });

  // Once an account exists, a visitor is offered to sign in instead.
  const visitor = await browser.newContext();
  const guestPage = await visitor.newPage();
  await guestPage.goto("/signin");
  await expect(guestPage.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(guestPage.getByText("Create the first account")).toHaveCount(0);
  await visitor.close();
});
