// Agents propose control-plane tasks in a room; a person confirms or rejects them there, and the
// proposal's card follows the task to its end. Runs signed in as the admin the first-run project
// created (playwright.config.ts); the demo model proposes when a message says `propose: <command>`
// and the agent has the tool.
import type { APIRequestContext, Page } from "@playwright/test";
import { test, expect, hydrated, createRoom, reportTask, ADMIN } from "./fixtures";

async function addAgent(page: Page, name: string, mayPropose: boolean) {
  const form = page.locator(".new-agent");
  await form.getByLabel("Agent name").fill(name);
  await form.getByLabel("Model").fill("demo");
  await form.getByLabel("May propose tasks").setChecked(mayPropose);
  await form.getByRole("button", { name: "Add agent" }).click();
  await expect(page.locator(`.agent-card[data-agent-name="${name}"]`)).toBeVisible();
}

async function say(page: Page, text: string) {
  const composer = page.getByLabel("Message");
  await composer.fill(text);
  await composer.press("Enter");
  await expect(page.locator(".message--human .message-body", { hasText: text })).toBeVisible();
}

/** The card of `agent`'s proposal, the `n`th of the page. */
function card(page: Page, agent: string, n = 0) {
  return page.getByRole("article", { name: `${agent} proposes a task` }).nth(n);
}

test("an agent proposes a task; a person confirms it, and the card follows the task to done", async ({ page }) => {
  await createRoom(page, "Proposals");
  await addAgent(page, "Ops", true);
  await say(page, "propose: liam check status");

  const proposal = card(page, "Ops");
  await expect(proposal).toHaveAttribute("data-state", "pending");
  // The timeline follows the conversation down to the new card.
  await expect(proposal.getByRole("button", { name: "Confirm" })).toBeInViewport();
  await expect(proposal).toHaveAttribute("data-risk", "low");
  await expect(proposal.locator(".risk")).toHaveText("low risk");
  await expect(proposal.locator(".lane")).toContainText("fast");
  await expect(proposal.locator(".proposal-command code")).toHaveText("liam check status");
  await expect(proposal.locator(".proposal-reason")).toContainText("asked for it");
  await expect(proposal.locator(".intent")).toHaveText("status_check");
  await expect(proposal.locator(".operations")).toContainText("status_reader");
  await expect(proposal.locator(".operations")).toContainText("agent=liam");
  await expect(proposal.locator(".rule-id")).toHaveText("liam_status");
  await expect(proposal.locator(".risk-reason")).toContainText("changes nothing");
  // Right under the agent's message it came with.
  const above = page.locator(".messages > li.timeline-proposal").locator("xpath=preceding-sibling::li[1]");
  await expect(above).toHaveClass(/message--agent/);
  await expect(above.locator(".sender")).toHaveText("Ops");

  // The countdown moves.
  const timer = proposal.getByRole("timer");
  await expect(timer).toHaveText(/^expires in [45]:\d\d$/);
  const first = await timer.innerText();
  await expect(timer).not.toHaveText(first, { timeout: 3_000 });

  await proposal.getByRole("button", { name: "Confirm" }).click();
  await expect(proposal).toHaveAttribute("data-state", "confirmed");
  await expect(proposal.locator(".task-id")).toHaveText(/^task_/);
  await expect(proposal.locator("[data-task-state]")).toHaveText("accepted");
  await expect(proposal.locator(".decided")).toContainText(`Confirmed by ${ADMIN.name}`);
  await expect(proposal.getByRole("button", { name: "Confirm" })).toHaveCount(0);
  await expect(proposal.getByRole("timer")).toHaveCount(0);

  // The execution plane reports; the server follows the task and the card changes in place.
  const taskId = (await proposal.locator(".task-id").innerText()).trim();
  reportTask(taskId, "done", "liam is up: 3 sessions");
  await expect(proposal.locator("[data-task-state]")).toHaveText("done");
  await expect(proposal.locator(".result-summary")).toHaveText("liam is up: 3 sessions");

  await page.reload();
  await hydrated(page);
  const kept = card(page, "Ops");
  await expect(kept).toHaveAttribute("data-state", "confirmed");
  await expect(kept.locator(".task-id")).toHaveText(taskId);
  await expect(kept.locator("[data-task-state]")).toHaveText("done");
  await expect(kept.locator(".result-summary")).toHaveText("liam is up: 3 sessions");
});

test("a high-risk proposal goes to approval, and a rejected one runs nothing", async ({ page }) => {
  await createRoom(page, "Risky proposals");
  await addAgent(page, "Ops", true);
  await say(page, "propose: lisa run backup_db");
  const proposal = card(page, "Ops");
  await expect(proposal).toHaveAttribute("data-risk", "high");
  await expect(proposal.locator(".risk")).toHaveText("high risk");
  await expect(proposal.locator(".lane")).toContainText("approval");
  await expect(proposal.locator(".operations")).toContainText("task=backup_db");
  await proposal.getByRole("button", { name: "Reject" }).click();
  await expect(proposal).toHaveAttribute("data-state", "rejected");
  await expect(proposal.locator(".decided")).toHaveText(/^Rejected by Ada Admin at \d\d:\d\d; nothing was run\.$/);
  await expect(proposal.getByRole("button")).toHaveCount(0);
});

test("an unrecognised command can only be turned into a task in the control panel", async ({ page }) => {
  await createRoom(page, "Vague proposals");
  await addAgent(page, "Ops", true);
  await say(page, "propose: please tidy everything up");
  const proposal = card(page, "Ops");
  await expect(proposal).toHaveAttribute("data-state", "pending");
  await expect(proposal.locator(".intent")).toHaveText("unknown");
  await expect(proposal.locator(".proposal-note")).toContainText("cannot be confirmed here");
  await expect(proposal.getByRole("link", { name: "control panel" })).toHaveAttribute("href", "/control-plane");
  await expect(proposal.getByRole("button", { name: "Confirm" })).toHaveCount(0);
});

test("an agent without the tool answers in words, and no card appears", async ({ page }) => {
  await createRoom(page, "No tools");
  await addAgent(page, "Chatty", false);
  await say(page, "propose: liam check status");
  const reply = page.locator(".message--agent");
  await expect(reply).toHaveCount(1);
  await expect(reply).toHaveAttribute("data-status", "complete");
  await expect(reply.locator(".message-body")).toContainText("demo model");
  await expect(page.locator("article.proposal")).toHaveCount(0);
});

async function roomWithProposer(request: APIRequestContext, name: string): Promise<string> {
  const created = await request.post("/api/rooms", { data: { name } });
  expect(created.status()).toBe(201);
  const room = (await created.json()).id;
  const agent = await request.post(`/api/rooms/${room}/agents`, {
    data: { name: "Ops", model: "demo", tools: ["propose_task"] },
  });
  expect(agent.status(), await agent.text()).toBe(201);
  return room;
}

/** Asks the room's agent to propose `command`; answers the proposal once it is there. */
async function propose(request: APIRequestContext, room: string, command: string) {
  const before = (await (await request.get(`/api/rooms/${room}/proposals`)).json()).proposals.length;
  const posted = await request.post(`/api/rooms/${room}/messages`, { data: { content: `propose: ${command}` } });
  expect(posted.status()).toBe(201);
  let proposals: any[] = [];
  await expect
    .poll(async () => {
      proposals = (await (await request.get(`/api/rooms/${room}/proposals`)).json()).proposals;
      return proposals.length;
    })
    .toBe(before + 1);
  return proposals[proposals.length - 1];
}

test.describe("with JavaScript off", () => {
  test.use({ javaScriptEnabled: false });

  test("Confirm and Reject are plain forms, and a refusal is shown on the card", async ({ page, request }) => {
    const room = await roomWithProposer(request, "Proposals without script");
    const first = await propose(request, room, "liam check status");
    await page.goto(`/rooms/${room}`);
    await card(page, "Ops").getByRole("button", { name: "Confirm" }).click();
    await expect(page).toHaveURL(new RegExp(`/rooms/${room}$`));
    await expect(card(page, "Ops")).toHaveAttribute("data-state", "confirmed");
    await expect(card(page, "Ops").locator("[data-task-state]")).toHaveText("accepted");
    const listed = (await (await request.get(`/api/rooms/${room}/proposals`)).json()).proposals;
    expect(listed[0].id).toBe(first.id);
    expect(listed[0].task_id).toMatch(/^task_/);

    // Someone else turns the next one down while this page still offers it.
    const second = await propose(request, room, "liam show status");
    await page.reload();
    await expect(card(page, "Ops", 1)).toHaveAttribute("data-state", "pending");
    const rejected = await request.post(`/api/rooms/${room}/proposals/${second.id}/reject`);
    expect(rejected.status()).toBe(200);
    await card(page, "Ops", 1).getByRole("button", { name: "Confirm" }).click();
    await expect(card(page, "Ops", 1)).toHaveAttribute("data-state", "rejected");
    await expect(card(page, "Ops", 1).getByRole("alert")).toContainText("already rejected");
  });
});
