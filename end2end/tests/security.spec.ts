import { test, expect, Page } from "@playwright/test";
import { GUEST } from "./fixtures";

// The app runs under its own Content-Security-Policy: the pages hydrate, stream and post with no
// violation, an injected inline script is blocked, and another site's form post is refused.

type Violations = { __cspViolations: string[] };

async function hydrated(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

/** What the page's policy refused so far, as reported by the browser. */
async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as Violations).__cspViolations);
}

const consoleViolations: string[] = [];

// Each test signs up a person of its own in a browser nobody is signed in to: signing in over
// the admin's shared session would end it for every later test.
test.use({ storageState: GUEST });

test.beforeEach(async ({ page }) => {
  consoleViolations.length = 0;
  // Listen before any of the page's own scripts run.
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as Violations).__cspViolations = seen;
    document.addEventListener("securitypolicyviolation", (event) => {
      seen.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`);
    });
  });
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) consoleViolations.push(message.text());
  });
  // A new person for each test; the request shares the page's cookies, so the pages are theirs.
  const email = `security-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
  const signup = await page.request.post("/api/auth/signup", {
    data: { email, password: "correct horse battery", name: "Sec Tester" },
  });
  expect(signup.status()).toBe(201);
});

test("every page carries the security headers and hydrates without a policy violation", async ({ page }) => {
  const created = await page.request.post("/api/rooms", { data: { name: "Headers room" } });
  expect(created.status()).toBe(201);
  const room = await created.json();

  const nonces = new Set<string>();
  for (const path of ["/", "/rooms", `/rooms/${room.id}`, "/control-plane", "/no/such/page"]) {
    const response = await page.goto(path);
    expect(response, path).not.toBeNull();
    const headers = response!.headers();
    const csp = headers["content-security-policy"];
    expect(csp, path).toContain("default-src 'self'");
    expect(csp, path).toContain("frame-ancestors 'none'");
    expect(csp, path).toContain("'wasm-unsafe-eval'");
    expect(csp, path).not.toContain("'unsafe-inline'");
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce, path).toBeTruthy();
    nonces.add(nonce!);
    expect(headers["x-content-type-options"], path).toBe("nosniff");
    expect(headers["referrer-policy"], path).toBe("same-origin");
    expect(headers["x-frame-options"], path).toBe("DENY");
    expect(headers["permissions-policy"], path).toContain("camera=()");

    await hydrated(page);
    // An island works: the theme toggle in the header answers a click.
    const toggle = page.getByRole("button", { name: /^(Dark|Light) theme$/ });
    const wanted = (await toggle.innerText()).startsWith("Dark") ? "dark" : "light";
    await toggle.click();
    await expect(page.locator("html")).toHaveAttribute("data-theme", wanted);
    expect(await violations(page), path).toEqual([]);
  }
  expect(nonces.size, "a new nonce for every page").toBe(5);
  expect(consoleViolations).toEqual([]);
});

test("a room works end to end under the policy: forms, server functions and the live stream", async ({ page }) => {
  await page.goto("/rooms");
  await hydrated(page);
  await page.getByLabel("Room name").fill("Policy room");
  await page.getByRole("button", { name: "Create room" }).click();
  await expect(page).toHaveURL(/\/rooms\/[0-9a-f-]{36}$/);
  await hydrated(page);
  await expect(page.getByRole("status", { name: "Connection" })).toHaveText("Live");

  const form = page.locator(".new-agent");
  await form.getByLabel("Agent name").fill("Ada");
  await form.getByLabel("System prompt").fill("You are Ada, a careful engineer.");
  await form.getByLabel("Model").fill("demo");
  await form.getByLabel("Temperature").fill("0.7");
  await form.getByRole("button", { name: "Add agent" }).click();
  await expect(page.locator(`.agent-card[data-agent-name="Ada"]`)).toBeVisible();

  const composer = page.getByLabel("Message");
  await composer.fill("| left | right |\n|:--|--:|\n| a | b |");
  await composer.press("Enter");
  await expect(page.locator(".message--human").last().locator("td.align-right")).toHaveText("b");
  const reply = page.locator(".message--agent").first();
  await expect(reply).toHaveAttribute("data-status", "complete", { timeout: 15_000 });

  expect(await violations(page)).toEqual([]);
  expect(consoleViolations).toEqual([]);
});

test("the policy blocks a script injected into the page", async ({ page }) => {
  await page.goto("/");
  await hydrated(page);
  await page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.__injected = true;";
    document.body.appendChild(script);
  });
  await expect.poll(() => violations(page)).toContainEqual(expect.stringMatching(/^script-src/));
  expect(await page.evaluate(() => (window as unknown as { __injected?: boolean }).__injected)).toBeUndefined();
});

test("the app cannot be framed and refuses a form another site posts", async ({ page, baseURL }) => {
  // Another site, made up on the spot: its page frames the app and posts a form to it.
  await page.route("http://evil.test/**", (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html><body>
        <iframe id="framed" src="${baseURL}/rooms"></iframe>
        <form id="forged" method="post" action="${baseURL}/api/fn/rooms/create">
          <input name="name" value="Forged room"><button>Go</button>
        </form></body></html>`,
    }),
  );
  await page.goto("http://evil.test/");
  // The browser refuses to show the app inside another site's frame (the page's load waited
  // for the frame's).
  await expect(page.frameLocator("#framed").locator(".app")).toHaveCount(0);

  const [response] = await Promise.all([
    page.waitForResponse((response) => response.url().endsWith("/api/fn/rooms/create")),
    page.locator("#forged button").click(),
  ]);
  expect(response.status()).toBe(403);
  expect((await response.json()).error.code).toBe("CROSS_SITE");

  const rooms = await (await page.request.get("/api/rooms")).json();
  expect(rooms.map((room: { name: string }) => room.name)).not.toContain("Forged room");
});
