import { Page } from "@playwright/test";
import { test, expect, gatewayRoot, reportTask as report } from "./fixtures";
import * as fs from "node:fs";
import * as path from "node:path";

async function openPanel(page: Page) {
  await page.goto("/control-plane");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator(".session-line code")).toHaveText(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
}

/** The task files waiting for approval; other tests of the suite write there too. */
function pendingApproval(): string[] {
  const folder = path.join(gatewayRoot, "interface", "pending_approval");
  return fs.existsSync(folder) ? fs.readdirSync(folder).sort() : [];
}

test("preview, confirm and watch a high-risk task to done", async ({ page }) => {
  const before = pendingApproval();
  await openPanel(page);
  await page.getByLabel("Command").fill("lisa run backup_db");
  await page.getByRole("button", { name: "Preview" }).click();

  const card = page.getByRole("region", { name: "Preview" });
  await expect(card.locator(".intent")).toHaveText("task_execution");
  await expect(card.locator(".risk")).toHaveText("high risk");
  await expect(card.locator(".lane")).toContainText("approval");
  await expect(card.locator(".operations")).toContainText("task_runner");
  await expect(card.locator(".operations")).toContainText("backup_db");
  await expect(card.locator(".rule-id")).not.toBeEmpty();
  await expect(card.getByRole("timer")).toHaveText(/expires in 4:5\d|expires in 5:00/);
  // Nothing is written before confirming.
  expect(pendingApproval()).toEqual(before);

  await card.getByRole("button", { name: "Confirm" }).click();
  const task = page.getByRole("region", { name: "Confirmed task" });
  await expect(task.locator(".path-written")).toHaveText(/^interface\/pending_approval\/task_.*\.yaml$/);
  const taskId = (await task.locator(".task-id").innerText()).trim();
  const written = path.join(gatewayRoot, (await task.locator(".path-written").innerText()).trim());
  // Task files quote every string, so YAML 1.1 and 1.2 readers agree.
  expect(fs.readFileSync(written, "utf8")).toMatch(/^"author": "gmx"$/m);
  await expect(task.locator(".state")).toHaveText("pending_approval");

  report(taskId, "running");
  await expect(task.locator(".state")).toHaveText("running");
  report(taskId, "done", "backup_db finished: 3 tables, 12 MB");
  await expect(task.locator(".state")).toHaveText("done");
  await expect(task.locator(".result-summary")).toHaveText("backup_db finished: 3 tables, 12 MB");
  await expect(page.locator(".tasks-table")).toContainText(taskId);
  await expect(page.locator(".tasks-table")).toContainText("done");
});

test("a low-risk command goes to the inbox as accepted", async ({ page }) => {
  await openPanel(page);
  await page.getByLabel("Command").fill("liam check status");
  await page.getByLabel("Channel").selectOption("terminal");
  await page.getByRole("button", { name: "Preview" }).click();
  const card = page.getByRole("region", { name: "Preview" });
  await expect(card.locator(".risk")).toHaveText("low risk");
  await expect(card.locator(".lane")).toContainText("fast");
  // The countdown moves.
  const timer = card.getByRole("timer");
  const first = await timer.innerText();
  await expect(timer).not.toHaveText(first, { timeout: 5_000 });
  await card.getByRole("button", { name: "Confirm" }).click();
  const task = page.getByRole("region", { name: "Confirmed task" });
  await expect(task.locator(".path-written")).toHaveText(/^interface\/inbox\/task_.*\.yaml$/);
  await expect(task.locator(".state")).toHaveText("accepted");
  // The file is there, authored by the gateway, with what the preview showed.
  const written = path.join(gatewayRoot, await task.locator(".path-written").innerText());
  const yaml = fs.readFileSync(written, "utf8");
  expect(yaml).toContain(`"task_id": "${await task.locator(".task-id").innerText()}"`);
  expect(yaml).toContain('"intent": "status_check"');
  expect(yaml).toContain('"risk": "low"');
});

test("ending the session drops its waiting preview and starts a new one", async ({ page }) => {
  await openPanel(page);
  const session = await page.locator(".session-line code").innerText();
  await page.getByLabel("Command").fill("lisa run backup_db");
  await page.getByRole("button", { name: "Preview" }).click();
  await expect(page.getByRole("region", { name: "Preview" })).toBeVisible();
  await page.getByRole("button", { name: "End session" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Session ended." })).toContainText(
    "The preview waiting for a confirm was dropped.",
  );
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const fresh = page.locator(".session-line code");
  await expect(fresh).toHaveText(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
  expect(await fresh.innerText()).not.toBe(session);
  await expect(page.getByRole("region", { name: "Preview" })).toHaveCount(0);
  // The tab keeps the new session across a reload.
  const kept = await fresh.innerText();
  await page.goto("/control-plane");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator(".session-line code")).toHaveText(kept);
});

test("chained input is never low risk, and unknown tasks need a structured override", async ({ page }) => {
  await openPanel(page);
  await page.getByLabel("Command").fill("liam check status; rm -rf /");
  await page.getByRole("button", { name: "Preview" }).click();
  const card = page.getByRole("region", { name: "Preview" });
  await expect(card.locator(".intent")).toHaveText("unknown");
  await expect(card.locator(".risk")).toHaveText("high risk");
  await expect(card.getByLabel("Structured override (JSON)")).toBeVisible();
  await card.getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("alert")).toContainText("SCHEMA_INVALID");

  await card.getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByRole("region", { name: "Preview" })).toHaveCount(0);
});

test("the control plane is refused to a plain user", async ({ signedIn }) => {
  const { page } = await signedIn("Pat Plain");
  const response = await page.goto("/control-plane");
  expect(response?.status()).toBe(403);
  await expect(page.getByRole("alert")).toHaveText("Only operators and admins may do this.");
  await expect(page.getByLabel("Command")).toHaveCount(0);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Control plane" })).toHaveCount(0);
  // Nor does the start page link there.
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Control plane" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Control plane" })).toHaveCount(0);
});
