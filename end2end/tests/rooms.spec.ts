import { Page } from "@playwright/test";
// Every test here runs signed in as the admin the first-run project created (playwright.config.ts).
import { test, expect, hydrated, createRoom } from "./fixtures";

async function addAgent(page: Page, name: string, prompt: string) {
  const form = page.locator(".new-agent");
  await form.getByLabel("Agent name").fill(name);
  await form.getByLabel("System prompt").fill(prompt);
  await form.getByLabel("Model").fill("demo");
  await form.getByLabel("Temperature").fill("0.7");
  await form.getByRole("button", { name: "Add agent" }).click();
  await expect(page.locator(`.agent-card[data-agent-name="${name}"]`)).toBeVisible();
  await expect(form.getByLabel("Agent name")).toHaveValue("");
}

test("create a room, add two agents, watch a reply stream in, reload and keep the history", async ({ page }) => {
  await createRoom(page, "Launch plan");
  await addAgent(page, "Ada", "You are Ada, a careful engineer.");
  await addAgent(page, "Bob", "You are Bob, an optimistic marketer.");
  await expect(page.locator(".agents-panel > .hint")).toContainText("2 of 12 active");

  // Every change the page makes to the first reply is noted as it happens, so seeing it while
  // it is still being written does not depend on how fast this test polls.
  await page.evaluate(() => {
    const seen: Array<[string | null, number]> = [];
    (window as unknown as { __replySeen: typeof seen }).__replySeen = seen;
    new MutationObserver(() => {
      const reply = document.querySelector(".message--agent");
      if (reply) seen.push([reply.getAttribute("data-status"), reply.querySelector(".message-body")?.textContent?.length ?? 0]);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });

  const composer = page.getByLabel("Message");
  await composer.fill("What should we measure first?");
  await composer.press("Enter");

  const human = page.locator(".message--human").last();
  await expect(human).toContainText("What should we measure first?");
  await expect(composer).toHaveValue("");

  // The agent's reply appears while it is still being written, then completes.
  const reply = page.locator(".message--agent").first();
  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 15_000 });
  const full = (await reply.locator(".message-body").innerText()).length;
  const seen = await page.evaluate(() => (window as unknown as { __replySeen: Array<[string, number]> }).__replySeen);
  const partials = seen.filter(([status, length]) => status === "streaming" && length > 0).map(([, length]) => length);
  expect(partials.length, "the reply was shown while it was being written").toBeGreaterThan(0);
  expect(Math.min(...partials)).toBeLessThan(full);
  await expect(reply.locator(".sender")).toHaveText("Ada");
  await expect(reply.locator(".message-meta")).toContainText("demo");
  await expect(reply.locator(".message-meta")).toContainText("tokens");
  await reply.getByText("Why this speaker?").click();
  await expect(reply.locator(".why")).toContainText("First in rotation.");

  // A mention picks the speaker.
  await composer.fill("@Bob what do you think?");
  await composer.press("Enter");
  const second = page.locator(".message--agent").nth(1);
  await expect(second.locator(".sender")).toHaveText("Bob");
  await expect(second).toHaveAttribute("data-status", "complete", { timeout: 15_000 });

  await page.reload();
  await hydrated(page);
  await expect(page.locator(".message--human")).toHaveCount(2);
  await expect(page.locator(".message--agent")).toHaveCount(2);
  await expect(page.locator(".message--agent").first().locator(".message-body")).toContainText("measure");
  await expect(page.locator(`.agent-card[data-agent-name="Ada"]`)).toBeVisible();
});

test("Shift+Enter adds a line; Enter sends", async ({ page }) => {
  await createRoom(page, "Multiline");
  const composer = page.getByLabel("Message");
  await composer.fill("first line");
  await composer.press("Shift+Enter");
  await composer.pressSequentially("second line");
  await expect(composer).toHaveValue("first line\nsecond line");
  await expect(page.locator(".message")).toHaveCount(0);
  await composer.press("Enter");
  await expect(page.locator(".message--human .message-body")).toContainText("second line");
});

test("agents can be edited and deactivated", async ({ page }) => {
  await createRoom(page, "Personas");
  await addAgent(page, "Cleo", "You are Cleo.");
  const card = page.locator(`.agent-card[data-agent-name="Cleo"]`);
  await card.locator("summary", { hasText: "Edit" }).click();
  await card.getByLabel("System prompt").fill("You are Cleo, a historian.");
  await card.getByLabel("Temperature").fill("1.3");
  await card.getByRole("button", { name: "Save" }).click();
  await expect(card.locator(".agent-prompt")).toHaveText("You are Cleo, a historian.");
  await expect(card).toContainText("t = 1.3");
  await card.getByRole("button", { name: "Deactivate" }).click();
  await expect(card).toContainText("inactive");
  await expect(page.locator(".agents-panel > .hint")).toContainText("0 of 12 active");

  // A refused input shows the server's message and changes nothing.
  const form = page.locator(".new-agent");
  await form.getByLabel("Agent name").fill("cleo");
  await form.getByRole("button", { name: "Add agent" }).click();
  await expect(form.getByRole("alert")).toContainText("already has an agent named");

  // The edits were stored, not only shown: a reload brings them back.
  await page.reload();
  await hydrated(page);
  const reloaded = page.locator(`.agent-card[data-agent-name="Cleo"]`);
  await expect(reloaded.locator(".agent-prompt")).toHaveText("You are Cleo, a historian.");
  await expect(reloaded).toContainText("t = 1.3");
  await expect(reloaded).toContainText("inactive");
  await expect(page.locator(".agent-card")).toHaveCount(1);
});

test("hostile Markdown is shown as text and never runs", async ({ page }) => {
  await createRoom(page, "Hostile input");
  const composer = page.getByLabel("Message");
  const attack = [
    "<img src=x onerror=\"window.__xss = 1\">",
    "<script>window.__xss = 2</script>",
    "[click me](javascript:window.__xss=3)",
    "**still bold**",
  ].join("\n\n");
  await composer.fill(attack);
  await composer.press("Enter");
  const body = page.locator(".message--human .message-body").last();
  await expect(body.locator("strong")).toHaveText("still bold");
  await expect(body).toContainText("<img src=x");
  await expect(body).toContainText("<script>");
  await expect(body.locator("img, script")).toHaveCount(0);
  await expect(body.locator("a")).toHaveCount(0);
  await body.getByText("click me").click();

  expect(await page.evaluate(() => (window as any).__xss), "nothing ran as it arrived live").toBeUndefined();
  await page.reload();
  await hydrated(page);
  await expect(page.locator(".message--human .message-body strong")).toHaveText("still bold");
  expect(await page.evaluate(() => (window as any).__xss), "nor as the server rendered it").toBeUndefined();
});

test("older messages load on demand", async ({ page, request }) => {
  const created = await request.post("/api/rooms", { data: { name: "Long history" } });
  const room = await created.json();
  for (let i = 0; i < 60; i++) {
    const posted = await request.post(`/api/rooms/${room.id}/messages`, { data: { content: `note ${i}` } });
    expect(posted.status(), `note ${i} was stored`).toBe(201);
  }
  await page.goto(`/rooms/${room.id}`);
  await hydrated(page);
  await expect(page.locator(".message")).toHaveCount(50);
  await expect(page.locator(".message").first()).toContainText("note 10");
  await page.getByRole("button", { name: "Load older messages" }).click();
  await expect(page.locator(".message")).toHaveCount(60);
  await expect(page.locator(".message").first()).toContainText("note 0");
  await expect(page.getByRole("button", { name: "Load older messages" })).toHaveCount(0);
});

test("the room's transcript downloads as Markdown and as JSON", async ({ page }) => {
  await createRoom(page, "Export check");
  await addAgent(page, "Ada", "You are Ada, a careful engineer.");
  const composer = page.getByLabel("Message");
  await composer.fill("Summarise the plan.");
  await composer.press("Enter");
  await expect(page.locator('.message--agent[data-status="complete"]')).toHaveCount(1, { timeout: 15_000 });

  const links = page.locator(".take-away");
  const markdown = links.getByRole("link", { name: "Markdown" });
  const [download] = await Promise.all([page.waitForEvent("download"), markdown.click()]);
  expect(download.suggestedFilename()).toMatch(/^export-check-\d{8}-\d{4}\.md$/);
  const text = await (await import("node:fs/promises")).readFile(await download.path(), "utf8");
  expect(text).toContain("# Export check");
  expect(text).toContain("Summarise the plan.");
  expect(text).toContain("### Ada (agent)");

  const json = await page.request.get((await links.getByRole("link", { name: "JSON" }).getAttribute("href"))!);
  expect(json.headers()["content-type"]).toBe("application/json");
  const transcript = await json.json();
  expect(transcript.room.name).toBe("Export check");
  expect(transcript.messages.map((m: { sender_name: string }) => m.sender_name)).toContain("Ada");
  expect(transcript.totals.messages).toBe(2);
});

test("a persona card imports as an agent, exports again, and a malformed one is refused", async ({ page }) => {
  await createRoom(page, "Card check");
  const importer = page.locator(".import-card");
  await importer.locator("summary").click();
  await importer.getByLabel(/Character Card V2/).fill("{\"spec\": \"chara_card_v2\", \"data\": {}}");
  await importer.getByRole("button", { name: "Import as an agent" }).click();
  await expect(page.locator(".take-away .error-banner")).toContainText("Character Card V2");

  const card = {
    spec: "chara_card_v2",
    spec_version: "2.0",
    data: { name: "Seraphina", description: "{{char}} guards the forest.", personality: "calm", first_mes: "Welcome.", tags: ["x"] },
  };
  await page.locator(".import-card summary").click();
  await page.locator(".import-card").getByLabel(/Character Card V2/).fill(JSON.stringify(card));
  await page.locator(".import-card").getByLabel("Model").fill("demo");
  await page.locator(".import-card").getByRole("button", { name: "Import as an agent" }).click();
  await expect(page.locator('.agent-card[data-agent-name="Seraphina"]')).toBeVisible();

  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator(".take-away").getByRole("link", { name: "Seraphina" }).click(),
  ]);
  expect(download.suggestedFilename()).toBe("seraphina.card.json");
  const exported = JSON.parse(await (await import("node:fs/promises")).readFile(await download.path(), "utf8"));
  expect(exported.spec).toBe("chara_card_v2");
  expect(exported.data.name).toBe("Seraphina");
  expect(exported.data.system_prompt).toContain("Seraphina guards the forest.");
  expect(exported.data.extensions.ais_chatrooms.model).toBe("demo");
});

test("a persona card file exported from one room imports into another", async ({ page }) => {
  await createRoom(page, "Card source");
  await addAgent(page, "Quill", "You are Quill, who edits prose without mercy.");
  // The files' links are drawn by the server: the new agent's card is there after a reload.
  await page.reload();
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator(".take-away").getByRole("link", { name: "Quill" }).click(),
  ]);
  const file = await download.path();

  await createRoom(page, "Card target");
  const importer = page.locator(".import-card");
  await importer.locator("summary").click();
  // Anything but a card's size and kind is left to the server, which names what is wrong.
  await hydrated(page);
  await importer.getByLabel("Card file (.json)").setInputFiles({
    name: "broken.json",
    mimeType: "application/json",
    buffer: Buffer.from("{\"spec\": \"chara_card_v2\", \"data\": {\"name\": 7}}"),
  });
  await expect(importer.getByRole("status")).toHaveText("Read broken.json: check it below, then import it.");
  await importer.getByRole("button", { name: "Import as an agent" }).click();
  await expect(page.locator(".take-away .error-banner")).toContainText("Character Card V2");

  await hydrated(page);
  await page.locator(".import-card summary").click();
  await page.locator(".import-card").getByLabel("Card file (.json)").setInputFiles(file);
  await expect(page.locator(".import-card").getByRole("status")).toContainText("check it below");
  const pasted = await page.locator(".import-card").getByLabel(/Character Card V2/).inputValue();
  expect(JSON.parse(pasted).data.name).toBe("Quill");
  await page.locator(".import-card").getByRole("button", { name: "Import as an agent" }).click();
  const quill = page.locator('.agent-card[data-agent-name="Quill"]');
  await expect(quill).toBeVisible();
  await expect(quill).toContainText("demo");
});
