// A run's own page: meters as progress bars against the limits, the chart of its turns and the
// table behind it, kept current while the run goes on.
import { Page } from "@playwright/test";
import { test, expect, createRoom, hydrated } from "./fixtures";

async function roomWithTwoAgents(page: Page, name: string) {
  await createRoom(page, name);
  const form = page.locator(".new-agent");
  for (const [agent, prompt] of [["Pro", "You argue for the idea."], ["Con", "You argue against the idea."]]) {
    await form.getByLabel("Agent name").fill(agent);
    await form.getByLabel("System prompt").fill(prompt);
    await form.getByLabel("Model").fill("demo");
    await form.getByRole("button", { name: "Add agent" }).click();
    await expect(page.locator(`.agent-card[data-agent-name="${agent}"]`)).toBeVisible();
  }
}

async function startRun(page: Page, steps: number, budget: string) {
  await page.getByLabel("Max steps").fill(String(steps));
  await page.getByLabel("Max seconds").fill("120");
  await page.getByLabel("Token budget").fill(budget);
  await page.getByRole("button", { name: "Start auto" }).click();
}

test("a finished run's page shows who spoke when, its meters against its limits and its turns", async ({ page }) => {
  await roomWithTwoAgents(page, "Run view");
  const roomUrl = page.url();
  await startRun(page, 3, "100000");
  const meters = page.getByRole("status", { name: "Run status" });
  await expect(meters).toHaveAttribute("data-run-status", "completed", { timeout: 20_000 });

  await meters.getByRole("link", { name: "Run details" }).click();
  await expect(page).toHaveURL(/\/rooms\/[0-9a-f-]{36}\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("heading", { level: 1, name: "Auto run" })).toBeVisible();
  await expect(page.locator(".run-state-line")).toContainText("Completed — step limit reached");

  const steps = page.getByRole("progressbar", { name: "Steps" });
  await expect(steps).toHaveAttribute("max", "3");
  await expect(steps).toHaveAttribute("value", "3");
  await expect(page.getByRole("progressbar", { name: "Seconds" })).toHaveAttribute("max", "120");
  const tokens = page.getByRole("progressbar", { name: "Tokens" });
  await expect(tokens).toHaveAttribute("max", "100000");
  const used = Number(await tokens.getAttribute("value"));
  expect(used).toBeGreaterThan(0);

  // The chart is one named image; the table lists the same three turns, alternating speakers.
  const chart = page.getByRole("img", { name: /^Turns of the run: 3 turns by Pro, Con over [\d.]+ seconds\.$/ });
  await expect(chart).toBeVisible();
  await expect(chart.locator("rect")).not.toHaveCount(0);
  const rows = page.locator(".run-turns tbody tr");
  await expect(rows).toHaveCount(3);
  await expect(rows.locator("th")).toHaveText(["Pro", "Con", "Pro"]);
  let summed = 0;
  for (const row of await rows.all()) {
    const cells = await row.locator("td").allInnerTexts();
    // #, began at, first token, duration, tokens in, tokens out, model
    expect(cells[1]).toMatch(/^\d+\.\d\d s$/);
    expect(cells[2]).toMatch(/^\d+\.\d\d s$/);
    expect(Number.parseFloat(cells[2])).toBeLessThanOrEqual(Number.parseFloat(cells[3]));
    expect(cells[6]).toBe("demo");
    summed += Number(cells[4]) + Number(cells[5]);
  }
  expect(summed, "the token meter is the sum of the turns").toBe(used);

  await page.getByRole("link", { name: "← Run view" }).click();
  await expect(page).toHaveURL(roomUrl);
});

test("a running run's page follows it until it is stopped", async ({ page, context }) => {
  await roomWithTwoAgents(page, "Run followed");
  await startRun(page, 200, "");
  const meters = page.getByRole("status", { name: "Run status" });
  await expect(meters).toHaveAttribute("data-run-status", "running");

  const details = await context.newPage();
  await details.goto(await meters.getByRole("link", { name: "Run details" }).getAttribute("href") ?? "");
  await hydrated(details);
  const report = details.locator(".run-report");
  await expect(report).toHaveAttribute("data-running", "true");
  await expect(details.locator(".run-state-line")).toContainText("Running");
  // Without a budget the tokens have no bar, only their count.
  await expect(details.getByRole("progressbar", { name: "Tokens" })).toHaveCount(0);
  await expect(details.locator('[data-meter="run-tokens"]')).toContainText("no limit");
  const rows = details.locator(".run-turns tbody tr");
  const before = await rows.count();
  await expect.poll(() => rows.count(), { timeout: 15_000 }).toBeGreaterThan(before + 1);

  await page.getByRole("button", { name: "Stop", exact: true }).click();
  await expect(meters).toHaveAttribute("data-run-status", "stopped");
  await expect(details.locator(".run-state-line")).toContainText("Stopped — stopped by you", { timeout: 10_000 });
  await expect(report).toHaveAttribute("data-running", "false");
  await expect(details.locator('.run-turns tbody tr th:has-text("(streaming)")')).toHaveCount(0);
});

test("a run that is not there is a 404 page", async ({ page }) => {
  await createRoom(page, "No such run");
  const response = await page.goto(`${page.url()}/runs/00000000-0000-7000-8000-000000000000`);
  expect(response?.status()).toBe(404);
  await expect(page.getByText("run not found")).toBeVisible();
});
