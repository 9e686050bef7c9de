// Runs signed in as the admin the first-run project created (playwright.config.ts).
import { test, expect } from "./fixtures";

test("start auto mode, watch agents alternate, stop, and nothing more arrives", async ({ page }) => {
  await page.goto("/rooms");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.getByLabel("Room name").fill("Debate");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(/\/rooms\/[0-9a-f-]{36}$/);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");

  const form = page.locator(".new-agent");
  for (const [name, prompt] of [["Pro", "You argue for the idea."], ["Con", "You argue against the idea."]]) {
    await form.getByLabel("Agent name").fill(name);
    await form.getByLabel("System prompt").fill(prompt);
    await form.getByLabel("Model").fill("demo");
    await form.getByRole("button", { name: "Add agent" }).click();
    await expect(page.locator(`.agent-card[data-agent-name="${name}"]`)).toBeVisible();
  }

  await page.getByLabel("Max steps").fill("30");
  await page.getByLabel("Max seconds").fill("120");
  await page.getByLabel("Token budget").fill("100000");
  await page.getByRole("button", { name: "Start auto" }).click();

  const meters = page.getByRole("status", { name: "Run status" });
  await expect(meters).toHaveAttribute("data-run-status", "running");
  await expect(page.getByRole("button", { name: "Start auto" })).toBeDisabled();
  const agentMessages = page.locator(".message--agent");
  await expect.poll(async () => agentMessages.count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
  const speakers = await agentMessages.locator(".sender").allInnerTexts();
  for (let i = 1; i < speakers.length; i++) {
    expect(speakers[i]).not.toBe(speakers[i - 1]);
  }
  await expect(meters).toContainText(/steps \d+\/30/);
  await expect(meters).toContainText("/ 100000 tokens");

  await page.getByRole("button", { name: "Stop", exact: true }).click();
  await expect(meters).toHaveAttribute("data-run-status", "stopped");
  await expect(meters).toContainText("stopped by you");
  await expect(page.locator('.message--agent[data-status="streaming"]')).toHaveCount(0);
  const count = await agentMessages.count();
  await page.waitForTimeout(2000);
  await expect(agentMessages).toHaveCount(count);
  await expect(page.getByRole("button", { name: "Start auto" })).toBeEnabled();
  // The whole run streamed over one connection that never dropped.
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");

  // The run is kept: after a reload the meters show how it ended.
  await page.reload();
  await expect(page.getByRole("status", { name: "Run status" })).toContainText("stopped by you");
  await expect(agentMessages).toHaveCount(count);
});

test("in an auto room a message starts a run with the room's own limits", async ({ page }) => {
  await page.goto("/rooms");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.getByLabel("Room name").fill("Standing debate");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(/\/rooms\/[0-9a-f-]{36}$/);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator(".room-header .badge.mode")).toHaveText("manual");
  const form = page.locator(".new-agent");
  for (const name of ["Yes", "No"]) {
    await form.getByLabel("Agent name").fill(name);
    await form.getByLabel("Model").fill("demo");
    await form.getByRole("button", { name: "Add agent" }).click();
    await expect(page.locator(`.agent-card[data-agent-name="${name}"]`)).toBeVisible();
  }

  // The owner switches the room to auto, with runs of three steps.
  const settings = page.locator("#settings");
  await settings.getByLabel("Mode").selectOption("auto");
  await settings.getByLabel("Steps per run").fill("3");
  await settings.getByLabel("Seconds per run").fill("60");
  await settings.getByRole("button", { name: "Save settings" }).click();
  await expect(page.locator(".room-header .badge.mode")).toHaveText("auto");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator(".auto-hint")).toBeVisible();
  // The run form offers the room's limits.
  await expect(page.locator("#run-max-steps")).toHaveValue("3");

  const composer = page.getByLabel("Message");
  await composer.fill("Should we ship on Friday?");
  await composer.press("Enter");
  const meters = page.getByRole("status", { name: "Run status" });
  await expect(meters).toContainText(/steps \d\/3/);
  await expect(meters).toHaveAttribute("data-run-status", "completed", { timeout: 20_000 });
  await expect(meters).toContainText("steps 3/3");
  await expect(page.locator(".message--agent")).toHaveCount(3);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
});
