// The room's forms work before the page's island has hydrated: with JavaScript off, and with the
// browser bundle held back while the person acts at once. Each action takes effect exactly once,
// which the REST API confirms.
import { test, expect, hydrated } from "./fixtures";
import type { APIRequestContext, Page } from "@playwright/test";
import * as fs from "node:fs";
import * as path from "node:path";

const gatewayRoot = path.join(process.env.E2E_DATA_DIR!, "control-plane");

/** The task files written so far in one of the control plane's folders. */
function taskFiles(folder: "inbox" | "pending_approval"): string[] {
  const dir = path.join(gatewayRoot, "interface", folder);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((name) => name.endsWith(".yaml")) : [];
}

/** Previews and confirms a command on the panel; returns the task file it wrote. */
async function previewAndConfirm(page: Page, command: string, hydratedMeanwhile: () => Promise<void>) {
  const before = new Set(taskFiles("pending_approval"));
  await page.getByLabel("Command").fill(command);
  await page.getByRole("button", { name: "Preview" }).click();
  const card = page.getByRole("region", { name: "Preview" });
  await expect(card.locator(".intent")).toHaveText("task_execution");
  await expect(card.locator(".risk")).toHaveText("high risk");
  expect(taskFiles("pending_approval").filter((f) => !before.has(f)), "nothing written before confirming").toEqual([]);
  await hydratedMeanwhile();
  await card.getByRole("button", { name: "Confirm" }).click();
  const task = page.getByRole("region", { name: "Confirmed task" });
  await expect(task.locator(".path-written")).toHaveText(/^interface\/pending_approval\/task_.*\.yaml$/);
  await expect(task.locator(".state")).toHaveText("pending_approval");
  const written = taskFiles("pending_approval").filter((f) => !before.has(f));
  expect(written, "exactly one task file").toHaveLength(1);
  return written[0];
}

const DELAY_MS = 4_000;

async function newRoom(request: APIRequestContext, name: string): Promise<string> {
  const created = await request.post("/api/rooms", { data: { name } });
  expect(created.status()).toBe(201);
  return (await created.json()).id;
}

async function counts(request: APIRequestContext, room: string) {
  const agents = await (await request.get(`/api/rooms/${room}/agents`)).json();
  const messages = await (await request.get(`/api/rooms/${room}/messages?limit=200`)).json();
  const runs = await (await request.get(`/api/rooms/${room}/runs`)).json();
  const human = messages.messages.filter((m: any) => m.sender_type === "human");
  return { agents: agents as any[], human: human as any[], runs: runs as any[] };
}

/** The page has not hydrated yet: whatever happens now is the browser's own doing. */
async function notHydratedYet(page: Page) {
  expect(await page.locator("body").getAttribute("data-hydrated")).toBeNull();
}

async function addAgent(page: Page, name: string) {
  const form = page.locator(".new-agent");
  await form.getByLabel("Agent name").fill(name);
  await form.getByLabel("System prompt").fill(`You are ${name}.`);
  await form.getByLabel("Model").fill("demo");
  await form.getByRole("button", { name: "Add agent" }).click();
  await expect(page.locator(`.agent-card[data-agent-name="${name}"]`)).toBeVisible();
}

async function send(page: Page, text: string) {
  await page.getByLabel("Message").fill(text);
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.locator(".message--human .message-body", { hasText: text })).toBeVisible();
}

async function startAndStop(page: Page) {
  await page.getByLabel("Max steps").fill("200");
  await page.getByRole("button", { name: "Start auto" }).click();
  await expect(page.getByRole("button", { name: "Stop", exact: true })).toBeEnabled();
  await page.getByRole("button", { name: "Stop", exact: true }).click();
  await expect(page.getByRole("button", { name: "Start auto" })).toBeEnabled();
}

test.describe("with JavaScript off", () => {
  test.use({ javaScriptEnabled: false });

  test("add an agent, send, start and stop a run, edit the agent", async ({ page, request }) => {
    const room = await newRoom(request, "No script at all");
    await page.goto(`/rooms/${room}`);
    await addAgent(page, "Nell");
    await addAgent(page, "Otto");
    await send(page, "Hello without script");
    await startAndStop(page);
    await expect(page.locator(".run-meters")).toContainText("stopped by you");

    // Editing opens as a disclosure; a refusal comes back next to the agent it is about.
    const card = page.locator(`.agent-card[data-agent-name="Nell"]`);
    await card.locator("summary", { hasText: "Edit" }).click();
    await card.getByLabel("Agent name").fill("otto");
    await card.getByRole("button", { name: "Save" }).click();
    await expect(page.locator(`.agent-card[data-agent-name="Nell"]`).getByRole("alert")).toContainText("already has an agent named");
    await page.locator(`.agent-card[data-agent-name="Nell"] summary`).click();
    await page.locator(`.agent-card[data-agent-name="Nell"]`).getByLabel("System prompt").fill("You are Nell, a historian.");
    await page.locator(`.agent-card[data-agent-name="Nell"]`).getByRole("button", { name: "Save" }).click();
    await expect(page.locator(`.agent-card[data-agent-name="Nell"] .agent-prompt`)).toHaveText("You are Nell, a historian.");
    await page.locator(`.agent-card[data-agent-name="Nell"]`).getByRole("button", { name: "Deactivate" }).click();
    await expect(page.locator(`.agent-card[data-agent-name="Nell"]`)).toContainText("inactive");

    const after = await counts(request, room);
    expect(after.agents.map((a) => a.name).sort()).toEqual(["Nell", "Otto"]);
    const nell = after.agents.find((a) => a.name === "Nell");
    expect(nell.system_prompt).toBe("You are Nell, a historian.");
    expect(nell.is_active).toBe(false);
    expect(after.human.map((m) => m.content)).toEqual(["Hello without script"]);
    expect(after.runs).toHaveLength(1);
  });
});

test.describe("the control panel with JavaScript off", () => {
  test.use({ javaScriptEnabled: false });

  test("preview, cancel, preview again and confirm", async ({ page }) => {
    await page.goto("/control-plane");
    await expect(page.locator(".session-line code")).toHaveText(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    await page.getByLabel("Command").fill("lisa run backup_db");
    await page.getByRole("button", { name: "Preview" }).click();
    const card = page.getByRole("region", { name: "Preview" });
    await expect(card.locator(".operations")).toContainText("backup_db");
    await card.getByRole("button", { name: "Cancel" }).click();
    await expect(page.getByRole("region", { name: "Preview" })).toHaveCount(0);

    const file = await previewAndConfirm(page, "lisa run backup_db", async () => {});
    const taskId = file.replace(/\.yaml$/, "");
    await expect(page.getByRole("region", { name: "Confirmed task" }).locator(".task-id")).toHaveText(taskId);
    await expect(page.locator(".tasks-table")).toContainText(taskId);
    // Reloading the page the confirm led to writes nothing more.
    await page.reload();
    expect(taskFiles("pending_approval")).toContain(file);
    await expect(page.locator(".tasks-table tbody tr")).toHaveCount(1);
  });
});

test.describe("while the browser bundle is still loading", () => {
  test.beforeEach(async ({ page }) => {
    await page.route("**/pkg/*.wasm", async (route) => {
      await new Promise((resolve) => setTimeout(resolve, DELAY_MS));
      await route.continue();
    });
  });

  test("each form acted on at once takes effect exactly once", async ({ page, request }) => {
    const room = await newRoom(request, "Slow phone");
    await page.goto(`/rooms/${room}`);
    await notHydratedYet(page);
    await addAgent(page, "Pia");
    await notHydratedYet(page);
    await addAgent(page, "Quin");
    await notHydratedYet(page);
    await send(page, "Typed at once");
    await notHydratedYet(page);
    await startAndStop(page);

    const after = await counts(request, room);
    expect(after.agents.map((a) => a.name).sort()).toEqual(["Pia", "Quin"]);
    expect(after.human.map((m) => m.content)).toEqual(["Typed at once"]);
    expect(after.runs).toHaveLength(1);
  });

  test("the panel's preview and confirm, acted on at once, write one task", async ({ page }) => {
    await page.goto("/control-plane");
    await notHydratedYet(page);
    await previewAndConfirm(page, "lisa run backup_db", () => notHydratedYet(page));
    // Once hydrated, the tab carries on in the session the plain posts used.
    await hydrated(page);
    await expect(page.locator(".tasks-table tbody tr")).toHaveCount(1);
  });

  test("a command typed before the panel hydrates is previewed once it has", async ({ page }) => {
    await page.goto("/control-plane");
    await notHydratedYet(page);
    await page.getByLabel("Command").fill("lisa run backup_db");
    await hydrated(page);
    await expect(page.getByLabel("Command")).toHaveValue("lisa run backup_db");
    await previewAndConfirm(page, "lisa run backup_db", async () => {});
  });

  test("a control that needs the script says so until it has loaded", async ({ page }) => {
    await page.goto("/");
    await notHydratedYet(page);
    const toggle = page.getByRole("button", { name: "Dark theme" });
    await expect(toggle).toBeDisabled();
    await expect(toggle).toHaveAttribute("aria-busy", "true");
    await hydrated(page);
    await expect(toggle).toBeEnabled();
    await expect(toggle).toHaveAttribute("aria-busy", "false");
  });

  test("what was typed before hydration is kept, and Send reflects it", async ({ page, request }) => {
    const room = await newRoom(request, "Typed early");
    await page.goto(`/rooms/${room}`);
    await notHydratedYet(page);
    await page.getByLabel("Message").fill("Written while loading");
    await page.locator(".new-agent").getByLabel("Agent name").fill("Rhea");
    await hydrated(page);
    await expect(page.getByLabel("Message")).toHaveValue("Written while loading");
    await expect(page.locator(".new-agent").getByLabel("Agent name")).toHaveValue("Rhea");
    const sendButton = page.getByRole("button", { name: "Send" });
    await expect(sendButton).toBeEnabled();
    await sendButton.click();
    await expect(page.locator(".message--human .message-body", { hasText: "Written while loading" })).toBeVisible();
    await expect(page.getByLabel("Message")).toHaveValue("");
    await expect(sendButton).toBeDisabled();

    const after = await counts(request, room);
    expect(after.human.map((m) => m.content)).toEqual(["Written while loading"]);
  });
});
