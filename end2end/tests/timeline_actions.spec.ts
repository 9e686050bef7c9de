import * as fs from "node:fs";
import { Page } from "@playwright/test";
// Runs signed in as the admin the first-run project created (playwright.config.ts).
import { test, expect, hydrated, createRoom } from "./fixtures";

async function addAgent(page: Page, name: string, prompt: string) {
  const form = page.locator(".new-agent");
  await form.getByLabel("Agent name").fill(name);
  await form.getByLabel("System prompt").fill(prompt);
  await form.getByLabel("Model").fill("demo");
  await form.getByRole("button", { name: "Add agent" }).click();
  await expect(page.locator(`.agent-card[data-agent-name="${name}"]`)).toBeVisible();
}

async function ask(page: Page, text: string) {
  const composer = page.getByLabel("Message");
  await composer.fill(text);
  await composer.press("Enter");
  await expect(page.locator(".message--human").last()).toContainText(text);
}

test("regenerate keeps every version to flip between, in every open tab; edit, copy and delete", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  await createRoom(page, "Versions");
  await addAgent(page, "Ada", "You are a careful reviewer.");
  await ask(page, "How should we review the parser code?");
  const reply = page.locator(".message--agent").first();
  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 15_000 });
  // Screen readers hear of the reply once it is written, politely.
  await expect(page.locator(".announcer[aria-live=polite]")).toContainText("Ada replied: ");
  const first = (await reply.locator(".message-body").textContent()) ?? "";

  // A second tab on the same room hears of every change.
  const other = await context.newPage();
  await other.goto(page.url());
  await hydrated(other);
  await expect(other.getByRole("status", { name: "Connection" })).toHaveText("Live");
  const otherReply = other.locator(".message--agent").first();

  // The code block the demo writes for code keeps its language and copies on its own.
  await expect(reply.locator(".code-lang")).toHaveText("rust");
  await reply.getByRole("button", { name: "Copy the rust code" }).click();
  await expect(reply.locator(".copy-code")).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain("fn main()");

  await reply.getByRole("button", { name: "Regenerate" }).click();
  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 15_000 });
  await expect(reply.locator(".version-count")).toHaveText("2/2");
  await expect(otherReply.locator(".version-count")).toHaveText("2/2");
  await reply.getByRole("button", { name: "Previous version" }).click();
  await expect(reply.locator(".version-count")).toHaveText("1/2");
  await expect(reply.locator(".message-body")).toHaveText(first);
  await expect(otherReply.locator(".version-count")).toHaveText("1/2");
  await expect(reply.getByRole("button", { name: "Previous version" })).toBeDisabled();
  await reply.getByRole("button", { name: "Next version" }).click();
  await expect(reply.locator(".version-count")).toHaveText("2/2");
  await expect(reply.locator(".message-body")).not.toHaveText(first);

  // Copying a whole message copies its text as written (Markdown).
  const human = page.locator(".message--human").first();
  await human.getByRole("button", { name: "Copy", exact: true }).click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe("How should we review the parser code?");

  // Editing: from the button, and ↑ in the empty composer; Escape cancels, Enter saves.
  const composer = page.getByLabel("Message");
  await composer.focus();
  await composer.press("ArrowUp");
  const editor = human.getByLabel("Edit your message");
  await expect(editor).toBeFocused();
  await editor.press("Escape");
  await expect(editor).toHaveCount(0);
  await human.getByRole("button", { name: "Edit" }).click();
  await human.getByLabel("Edit your message").fill("How should we review the lexer code?");
  await human.getByLabel("Edit your message").press("Enter");
  await expect(human.locator(".message-body")).toHaveText("How should we review the lexer code?");
  await expect(human.locator(".message-header")).toContainText("edited");
  await expect(other.locator(".message--human").first().locator(".message-body")).toHaveText(
    "How should we review the lexer code?",
  );

  // Deleting asks first; the message stays in place, shown as removed, after a reload too.
  page.once("dialog", (dialog) => dialog.dismiss());
  await reply.getByRole("button", { name: "Delete" }).click();
  await expect(reply.locator(".message-body")).not.toHaveText("This message was removed.");
  page.once("dialog", (dialog) => dialog.accept());
  await reply.getByRole("button", { name: "Delete" }).click();
  await expect(reply.locator(".message-body")).toHaveText("This message was removed.");
  await expect(otherReply.locator(".message-body")).toHaveText("This message was removed.");
  await page.reload();
  await hydrated(page);
  await expect(page.locator(".message--agent").first().locator(".message-body")).toHaveText("This message was removed.");
  await expect(page.locator(".message--human").first().locator(".message-header")).toContainText("edited");
});

test("Escape stops a run; a reply cut off by the stop is retried in place", async ({ page }) => {
  await createRoom(page, "Retries");
  await addAgent(page, "Pro", "You are an optimist.");
  await addAgent(page, "Con", "You are a skeptic.");
  await page.getByLabel("Max steps").fill("30");
  await page.getByLabel("Max seconds").fill("120");
  await page.getByRole("button", { name: "Start auto" }).click();
  const meters = page.getByRole("status", { name: "Run status" });
  await expect(meters).toHaveAttribute("data-run-status", "running");
  await expect(page.locator('.message--agent[data-status="streaming"]')).toHaveCount(1, { timeout: 15_000 });
  await page.getByLabel("Message").press("Escape");
  await expect(meters).toHaveAttribute("data-run-status", "stopped");
  const cut = page.locator('.message--agent[data-status="stopped"]');
  await expect(cut).toHaveCount(1);
  await cut.getByRole("button", { name: "Retry" }).click();
  const retried = page.locator(".message--agent").last();
  await expect(retried).toHaveAttribute("data-status", "complete", { timeout: 15_000 });
  await expect(retried.locator(".version-count")).toHaveCount(0);
});

test("Escape, or the reply's own Stop, cuts off a reply being written outside a run", async ({ page }) => {
  await createRoom(page, "Quiet please");
  await addAgent(page, "Ada", "You are a careful reviewer.");
  const composer = page.getByLabel("Message");
  await composer.fill("How should we review the parser code, step by step?");
  await composer.press("Enter");
  const first = page.locator(".message--agent").first();
  await expect(first).toHaveAttribute("data-status", "streaming", { timeout: 15_000 });
  await composer.press("Escape");
  await expect(first).toHaveAttribute("data-status", "stopped");
  await expect(page.locator(".announcer")).toHaveText("Ada's reply was stopped.");
  await expect(first.locator(".message-body")).not.toBeEmpty();
  await expect(first.getByRole("button", { name: "Retry" })).toBeVisible();

  await composer.fill("And how should we review the lexer code?");
  await composer.press("Enter");
  const second = page.locator(".message--agent").nth(1);
  await expect(second).toHaveAttribute("data-status", "streaming", { timeout: 15_000 });
  await second.getByRole("button", { name: "Stop this reply" }).click();
  await expect(second).toHaveAttribute("data-status", "stopped");
  // Stopped is stopped: after a reload both replies are still cut off, and nothing else came.
  await page.reload();
  await expect(page.locator('.message--agent[data-status="stopped"]')).toHaveCount(2);
  await expect(page.locator(".message--agent")).toHaveCount(2);
});

test("the usage page draws each grouping as a chart with its table and a CSV file", async ({ page }) => {
  await createRoom(page, "Usage charts");
  await addAgent(page, "Ada", "You are a planner.");
  await ask(page, "Plan the garden party?");
  await expect(page.locator(".message--agent").first()).toHaveAttribute("data-status", "complete", { timeout: 15_000 });

  await page.getByRole("link", { name: "Usage", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  for (const [group, heading] of [["day", "Per day"], ["agent", "Per agent"], ["model", "Per model"], ["room", "Per room"]]) {
    const section = page.locator(`.usage-section[data-group="${group}"]`);
    await expect(section.getByRole("heading", { name: heading })).toBeVisible();
    await expect(section.locator("figure svg[role=img]")).toBeVisible();
    await expect(section.locator("tbody tr").first()).toBeVisible();
  }
  const rooms = page.locator('.usage-section[data-group="room"]');
  await expect(rooms.getByRole("img")).toHaveAttribute("aria-label", /Tokens by room\./);
  await expect(rooms.locator("tbody")).toContainText("Usage charts");
  await expect(page.locator('.usage-section[data-group="agent"] tbody')).toContainText("Ada (Usage charts)");

  const downloading = page.waitForEvent("download");
  await rooms.getByRole("link", { name: "Download CSV (room)" }).click();
  const download = await downloading;
  expect(download.suggestedFilename()).toMatch(/^usage-by-room-\d{8}-\d{8}\.csv$/);
  const csv = fs.readFileSync(await download.path(), "utf8").split("\n");
  expect(csv[0]).toBe("room,key,input_tokens,output_tokens,cost");
  expect(csv.some((line) => line.startsWith("Usage charts,"))).toBe(true);

  // A range with nothing in it says so, chart by chart.
  await page.getByLabel("From", { exact: true }).fill("2020-01-01");
  await page.getByLabel("To", { exact: true }).fill("2020-01-31");
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page).toHaveURL(/from=2020-01-01&to=2020-01-31/);
  await expect(page.locator(".usage-section .empty")).toHaveCount(4);
});
