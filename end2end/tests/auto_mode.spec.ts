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

  await page.getByRole("button", { name: "Stop" }).click();
  await expect(meters).toHaveAttribute("data-run-status", "stopped");
  await expect(meters).toContainText("stopped by you");
  await expect(page.locator('.message--agent[data-status="streaming"]')).toHaveCount(0);
  const count = await agentMessages.count();
  await page.waitForTimeout(2000);
  await expect(agentMessages).toHaveCount(count);
  await expect(page.getByRole("button", { name: "Start auto" })).toBeEnabled();

  // The run is kept: after a reload the meters show how it ended.
  await page.reload();
  await expect(page.getByRole("status", { name: "Run status" })).toContainText("stopped by you");
  await expect(agentMessages).toHaveCount(count);
});
