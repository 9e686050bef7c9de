import { test, expect, hydrated, GUEST } from "./fixtures";

test.describe("as a visitor", () => {
  test.use({ storageState: GUEST });

  test("sign in, see who is signed in, sign out", async ({ page, account }) => {
    const person = await account("Sam Signer");
    await page.goto("/");
    await page.locator(".app-header").getByRole("link", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/signin$/);
    await hydrated(page);
    await page.getByLabel("Email").fill(person.email);
    await page.getByLabel("Password").fill(person.password);
    await page.getByRole("button", { name: "Sign in" }).click();

    await expect(page).toHaveURL(/\/rooms$/);
    await expect(page.locator(".app-header .who")).toHaveText(person.name);
    const nav = page.getByRole("navigation", { name: "Main" });
    await expect(nav.getByRole("link", { name: "API tokens" })).toBeVisible();
    await expect(nav.getByRole("link", { name: "Control plane" })).toHaveCount(0);
    await expect(nav.getByRole("link", { name: "Users" })).toHaveCount(0);

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.locator(".app-header").getByRole("link", { name: "Sign in" })).toBeVisible();
    await page.goto("/tokens");
    await expect(page).toHaveURL(/\/signin\?next=\/tokens$/);
  });

  test("a wrong password gets one message, next to the form", async ({ page, account }) => {
    const person = await account("Wanda Wrong");
    await page.goto("/signin");
    await hydrated(page);
    await page.getByLabel("Email").fill(person.email);
    await page.getByLabel("Password").fill("not my password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.locator(".account-form").getByRole("alert")).toHaveText("The email or password is wrong.");
    await expect(page).toHaveURL(/\/signin$/);
    await expect(page.getByLabel("Email")).toHaveValue(person.email);
  });

  test("a page that needs an account sends the visitor to sign in and back", async ({ page, account }) => {
    const person = await account("Nora Next");
    await page.goto("/tokens");
    await expect(page).toHaveURL(/\/signin\?next=\/tokens$/);
    await hydrated(page);
    await page.getByLabel("Email").fill(person.email);
    await page.getByLabel("Password").fill(person.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/tokens$/);
    await expect(page.getByRole("heading", { level: 1, name: "API tokens" })).toBeVisible();
  });

  test("creating an account signs its owner in and goes back", async ({ page }) => {
    await page.goto("/signin?next=/tokens");
    await page.locator(".account-card").getByRole("link", { name: "Create account" }).click();
    await expect(page).toHaveURL(/\/signup\?next=\/tokens$/);
    await hydrated(page);
    const email = `cora.${Date.now().toString(36)}@example.com`;
    await page.getByLabel("Name").fill("Cora Creator");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    // The browser's own check asks for eight characters before anything is sent.
    await expect(page).toHaveURL(/\/signup\?next=\/tokens$/);
    await page.getByLabel("Password").fill("a long enough passphrase");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page).toHaveURL(/\/tokens$/);
    await expect(page.locator(".app-header .who")).toHaveText("Cora Creator");
  });
});

test.describe("without JavaScript", () => {
  test.use({ storageState: GUEST, javaScriptEnabled: false });

  test("the sign-in form works as a plain form, refusals included", async ({ page, account }) => {
    const person = await account("Noah Noscript");
    await page.goto("/rooms");
    await expect(page).toHaveURL(/\/signin\?next=\/rooms$/);
    await page.getByLabel("Email").fill(person.email);
    await page.getByLabel("Password").fill("not my password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toHaveText("The email or password is wrong.");
    await expect(page.getByLabel("Email")).toHaveValue(person.email);

    await page.getByLabel("Password").fill(person.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/rooms$/);
    await expect(page.locator(".app-header .who")).toHaveText(person.name);

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.locator(".app-header").getByRole("link", { name: "Sign in" })).toBeVisible();
  });
});

test("personal API tokens: the secret is shown once, works, and the token can be deleted", async ({ signedIn, playwright, baseURL }) => {
  const { page } = await signedIn("Toby Tokens");
  await page.goto("/tokens");
  await hydrated(page);
  await expect(page.getByText("No tokens yet.")).toBeVisible();
  await page.getByLabel("Token name").fill("deploy script");
  await page.getByRole("button", { name: "Create token" }).click();

  const shown = page.getByRole("region", { name: "Your new token" });
  await expect(shown).toContainText("it will not be shown again");
  const secret = (await shown.locator(".secret").innerText()).trim();
  expect(secret).toMatch(/^aisc_[0-9a-f]{64}$/);
  await hydrated(page);
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await shown.getByRole("button", { name: "Copy" }).click();
  await expect(shown.getByRole("button", { name: "Copied" })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

  const row = page.getByRole("row", { name: /deploy script/ });
  await expect(row).toContainText("never");

  // A script uses it; the page then says when.
  const script = await playwright.request.newContext({ baseURL, storageState: { cookies: [], origins: [] } });
  const me = await script.get("/api/auth/me", { headers: { authorization: `Bearer ${secret}` } });
  expect(await me.json()).toMatchObject({ name: "Toby Tokens" });
  await page.reload();
  await expect(page.getByRole("region", { name: "Your new token" })).toHaveCount(0);
  await expect(row).not.toContainText("never");

  await row.getByRole("button", { name: "Delete token deploy script" }).click();
  await expect(page.getByText("No tokens yet.")).toBeVisible();
  const refused = await script.get("/api/auth/me", { headers: { authorization: `Bearer ${secret}` } });
  expect(refused.status()).toBe(401);
  await script.dispose();
});

test("an admin changes a role and invites an address", async ({ page, signedIn }) => {
  const { person, page: theirPage } = await signedIn("Olga Operator");
  await theirPage.goto("/control-plane");
  await expect(theirPage.getByRole("heading", { name: "Not for your account" })).toBeVisible();

  await page.goto("/admin/users");
  const row = page.locator(`tr[data-email="${person.email}"]`);
  await expect(row).toContainText(person.name);
  await row.getByLabel(`Role of ${person.name}`).selectOption("operator");
  await row.getByRole("button", { name: "Change role" }).click();
  await expect(page.locator(`tr[data-email="${person.email}"]`).getByLabel(`Role of ${person.name}`)).toHaveValue("operator");

  await theirPage.goto("/control-plane");
  await expect(theirPage.getByLabel("Command")).toBeVisible();

  const invited = `ivy.${Date.now().toString(36)}@example.com`;
  await page.getByLabel("Email", { exact: true }).fill(invited);
  await page.getByRole("button", { name: "Invite" }).click();
  await expect(page.getByRole("status")).toHaveText(`${invited} may now create an account.`);
});
