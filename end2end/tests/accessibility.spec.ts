// Every page, in the light and the dark theme, scanned with axe-core for WCAG 2.1 A and AA
// problems: none serious or critical (the API's documentation page has one look in both). And the room at 400 px wide, where everything stays usable.
import AxeBuilder from "@axe-core/playwright";
import { Browser, BrowserContext, Page } from "@playwright/test";
import { test, expect, hydrated, createRoom, adminState, GUEST } from "./fixtures";

test.describe.configure({ mode: "serial" });

/** A room with two agents, a reply holding a code block, and a finished run. */
let room = "";
let run = "";

test.beforeAll(async ({ browser }) => {
  const context = await browser.newContext({ storageState: adminState });
  const page = await context.newPage();
  await createRoom(page, "Accessible room");
  const form = page.locator(".new-agent");
  for (const [agent, prompt] of [["Ada", "You review code."], ["Bo", "You question plans."]]) {
    await form.getByLabel("Agent name").fill(agent);
    await form.getByLabel("System prompt").fill(prompt);
    await form.getByLabel("Model").fill("demo");
    await form.getByRole("button", { name: "Add agent" }).click();
    await expect(page.locator(`.agent-card[data-agent-name="${agent}"]`)).toBeVisible();
  }
  await page.getByLabel("Message").fill("@Ada how should we review the parser code?");
  await page.getByLabel("Message").press("Enter");
  await expect(page.locator(".message--agent").first()).toHaveAttribute("data-status", "complete", { timeout: 15_000 });
  await page.getByLabel("Max steps").fill("2");
  await page.getByRole("button", { name: "Start auto" }).click();
  const meters = page.getByRole("status", { name: "Run status" });
  await expect(meters).toHaveAttribute("data-run-status", "completed", { timeout: 20_000 });
  const details = (await meters.getByRole("link", { name: "Run details" }).getAttribute("href")) ?? "";
  [room, run] = details.match(/^\/rooms\/([0-9a-f-]{36})\/runs\/([0-9a-f-]{36})$/)!.slice(1);
  await context.close();
});

const SIGNED_IN_PAGES = () => [
  "/rooms",
  `/rooms/${room}`,
  `/rooms/${room}/runs/${run}`,
  "/tokens",
  "/usage",
  "/admin/users",
  "/control-plane",
  "/control-plane/telegram",
  "/no-such-page",
];
// The API's documentation (Swagger UI, served by this server) is a page too.
const GUEST_PAGES = ["/", "/signin", "/signup", "/rooms", "/api/docs/"];

async function themed(browser: Browser, state: string | typeof GUEST, theme: string): Promise<BrowserContext> {
  const context = await browser.newContext({ storageState: state });
  await context.addInitScript((wanted) => window.localStorage.setItem("ais-chatrooms.theme", wanted), theme);
  return context;
}

/** The serious and critical violations on the page, one line each. */
async function problems(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(" ")} — ${n.failureSummary?.split("\n").join(" ")}`));
}

for (const theme of ["light", "dark"]) {
  test(`every page in the ${theme} theme has no serious or critical accessibility problem`, async ({ browser }) => {
    test.setTimeout(120_000);
    const found: string[] = [];
    for (const [state, pages] of [[GUEST, GUEST_PAGES], [adminState, SIGNED_IN_PAGES()]] as const) {
      const context = await themed(browser, state, theme);
      const page = await context.newPage();
      for (const path of pages) {
        await page.goto(path);
        if (path.startsWith("/api/docs")) {
          // Not an app page: no islands and no theme of ours, only its own script's drawing.
          await expect(page.locator(".opblock-tag-section").first()).toBeVisible();
        } else {
          await hydrated(page);
          await expect(page.locator("html")).toHaveAttribute("data-theme", theme);
        }
        found.push(...(await problems(page)).map((problem) => `${path}: ${problem}`));
      }
      await context.close();
    }
    expect(found, found.join("\n")).toEqual([]);
  });
}

test("at 400 px wide the room's timeline, composer, agents and run controls all remain usable", async ({ browser }) => {
  const context = await browser.newContext({ storageState: adminState, viewport: { width: 400, height: 800 } });
  const page = await context.newPage();
  await page.goto(`/rooms/${room}`);
  await hydrated(page);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  // Nothing is wider than the screen: no sideways scrolling.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);

  const within = async (what: string, selector: string) => {
    const target = page.locator(selector).first();
    await target.scrollIntoViewIfNeeded();
    await expect(target, what).toBeVisible();
    const box = (await target.boundingBox())!;
    expect(box.x, `${what} starts on screen`).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width, `${what} ends on screen`).toBeLessThanOrEqual(400.5);
  };
  await within("the timeline", ".timeline");
  await within("a reply", ".message--agent");
  await within("the message box", "#composer-input, .composer textarea");
  await within("the agents", ".agent-card");
  await within("the run controls", ".run-controls");
  await within("the Start button", ".run-controls button.primary");

  // Each still works: a message is sent and answered, an agent is added, and a run starts and stops.
  const replies = await page.locator(".message--agent").count();
  await page.getByLabel("Message").fill("@Bo is this plan sound on a small screen?");
  await page.getByRole("button", { name: "Send" }).click();
  await expect(page.locator(".message--agent")).toHaveCount(replies + 1, { timeout: 15_000 });
  await expect(page.locator(".message--agent").last()).toHaveAttribute("data-status", "complete", { timeout: 15_000 });
  const form = page.locator(".new-agent");
  await form.getByLabel("Agent name").fill("Cy");
  await form.getByLabel("System prompt").fill("You summarise.");
  await form.getByLabel("Model").fill("demo");
  await form.getByRole("button", { name: "Add agent" }).click();
  await expect(page.locator('.agent-card[data-agent-name="Cy"]')).toBeVisible();
  await page.getByLabel("Max steps").fill("50");
  await page.getByRole("button", { name: "Start auto" }).click();
  const meters = page.getByRole("status", { name: "Run status" });
  await expect(meters).toHaveAttribute("data-run-status", "running");
  await within("the run's meters", ".run-meters");
  await page.getByRole("button", { name: "Stop", exact: true }).click();
  await expect(meters).toHaveAttribute("data-run-status", "stopped");
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(400);
  await context.close();
});

test("the room works by keyboard alone, with a visible focus on every stop", async ({ page }) => {
  await page.goto(`/rooms/${room}`);
  await hydrated(page);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");

  // What has the focus, and whether it shows: an outline, or the browser's own ring.
  const focused = () =>
    page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return { id: "", name: "", tag: "BODY", visible: true };
      const style = getComputedStyle(el);
      const visible = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
      const name = el.getAttribute("aria-label") ?? el.textContent?.trim().slice(0, 40) ?? "";
      return { id: el.id, name, tag: el.tagName, visible };
    });

  await page.keyboard.press("Tab");
  expect((await focused()).name).toBe("Skip to content");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeInViewport();

  // Tab on until the message box, every stop on the way showing where the focus is.
  const unseen: string[] = [];
  for (let i = 0; i < 120 && (await focused()).id !== "composer-input"; i++) {
    await page.keyboard.press("Tab");
    const now = await focused();
    if (!now.visible) unseen.push(`${now.tag} ${now.id || now.name}`);
  }
  expect((await focused()).id, "the message box is reached by Tab").toBe("composer-input");
  expect(unseen, "every focused control shows its focus").toEqual([]);

  const replies = page.locator(".message--agent");
  const before = await replies.count();
  await page.keyboard.type("@Ada one more review, please?");
  await page.keyboard.press("Enter");
  await expect(replies).toHaveCount(before + 1, { timeout: 15_000 });
  const reply = replies.last();
  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 15_000 });

  // Back from the message box to the reply's Regenerate, and Enter presses it.
  for (let i = 0; i < 30 && !(await focused()).name.startsWith("Regenerate"); i++) {
    await page.keyboard.press("Shift+Tab");
    const now = await focused();
    expect(now.visible, `${now.tag} ${now.name} shows its focus`).toBe(true);
  }
  expect((await focused()).name).toMatch(/^Regenerate/);
  await page.keyboard.press("Enter");
  await expect(reply.locator(".version-count")).toHaveText("2/2", { timeout: 15_000 });
});
