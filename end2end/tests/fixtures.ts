import { test as base, expect, BrowserContext, Page } from "@playwright/test";
import * as fs from "node:fs";
import * as path from "node:path";

/** The first account, created through the start page by `first-run.setup.ts`: the admin. */
export const ADMIN = { name: "Ada Admin", email: "ada.admin@example.com", password: "correct horse battery" };
/** Where the admin's signed-in browser state is kept; every test starts from it unless it says otherwise. */
export const adminState = path.join(process.env.E2E_DATA_DIR!, "admin.json");
/** The control plane's folder (GATEWAY_ROOT) of the server under test. */
export const gatewayRoot = path.join(process.env.E2E_DATA_DIR!, "control-plane");

/** The execution plane reports a task's progress by appending a JSON line to its own log. */
export function reportTask(taskId: string, state: string, resultSummary?: string) {
  const folder = path.join(gatewayRoot, "observability", "telemetry");
  fs.mkdirSync(folder, { recursive: true });
  const line = JSON.stringify({
    task_id: taskId,
    state,
    ...(resultSummary ? { result_summary: resultSummary } : {}),
    ts_utc: new Date().toISOString(),
  });
  fs.appendFileSync(path.join(folder, "lisa.jsonl"), line + "\n");
}

/** A browser state with no session: a guest. */
export const GUEST = { cookies: [], origins: [] };

export type Person = { name: string; email: string; password: string };

/** Waits until the page's islands are interactive. */
export async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

let made = 0;

/** A person nobody has used yet, so tests never depend on each other. */
export function freshPerson(name: string): Person {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, ".");
  made += 1;
  return { name, email: `${slug}.${Date.now().toString(36)}.${made}@example.com`, password: "correct horse battery" };
}

type Fixtures = {
  /** Creates an account through the API, as a script would, without signing in anywhere. */
  account: (name: string) => Promise<Person>;
  /** Creates an account and opens a browser of its own, signed in as that person. */
  signedIn: (name: string) => Promise<{ person: Person; context: BrowserContext; page: Page }>;
};

export const test = base.extend<Fixtures>({
  account: async ({ playwright, baseURL }, use) => {
    await use(async (name) => {
      const person = freshPerson(name);
      const api = await playwright.request.newContext({ baseURL, storageState: GUEST });
      const response = await api.post("/api/auth/signup", { data: person });
      expect(response.status(), await response.text()).toBe(201);
      await api.dispose();
      return person;
    });
  },
  signedIn: async ({ browser, playwright, baseURL }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (name) => {
      const person = freshPerson(name);
      const api = await playwright.request.newContext({ baseURL, storageState: GUEST });
      const response = await api.post("/api/auth/signup", { data: person });
      expect(response.status(), await response.text()).toBe(201);
      const state = await api.storageState();
      await api.dispose();
      const context = await browser.newContext({ storageState: state });
      contexts.push(context);
      return { person, context, page: await context.newPage() };
    });
    for (const context of contexts) await context.close();
  },
});

export { expect };

/** Creates a room through the rooms page and waits until it is live. */
export async function createRoom(page: Page, name: string, visibility = "private") {
  await page.goto("/rooms");
  await hydrated(page);
  await page.getByLabel("Room name").fill(name);
  await page.getByLabel("Visibility").selectOption(visibility);
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(/\/rooms\/[0-9a-f-]{36}$/);
  await expect(page.getByRole("heading", { level: 1, name })).toBeVisible();
  await hydrated(page);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");
}
