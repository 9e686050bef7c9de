// The API's browsable contract: /api/docs renders the OpenAPI document under the app's own
// Content-Security-Policy, from files the server carries, and can call the API.
import { test, expect } from "./fixtures";

test("the API's documentation page lists every area and loads nothing from elsewhere", async ({ page, baseURL }) => {
  const foreign: string[] = [];
  const refused: string[] = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(baseURL!)) foreign.push(request.url());
  });
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy|Refused/.test(message.text())) refused.push(message.text());
  });
  await page.goto("/api/docs/");
  await expect(page.getByRole("heading", { name: /AIS Chatrooms/ })).toBeVisible();
  for (const tag of ["rooms", "accounts", "control plane", "operations"]) {
    await expect(page.locator(".opblock-tag-section").filter({ hasText: tag }).first()).toBeVisible();
  }
  await expect(page.locator(".opblock-summary-path", { hasText: "/api/v1/chat/preview" })).toBeVisible();
  expect(foreign, "nothing is fetched from another site").toEqual([]);
  expect(refused, "the page's scripts run under the app's CSP").toEqual([]);
});
