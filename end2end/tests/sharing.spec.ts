import { test, expect, hydrated, createRoom, GUEST } from "./fixtures";

test("a room shared with a second person shows up for them, live both ways", async ({ signedIn }) => {
  const owner = await signedIn("Olive Owner");
  const member = await signedIn("Milo Member");
  await createRoom(owner.page, "Shared plans");
  const roomUrl = owner.page.url();

  // Not shared yet: the room does not exist for Milo.
  await member.page.goto(roomUrl);
  await expect(member.page.getByRole("heading", { name: "Room not found" })).toBeVisible();

  const members = owner.page.getByRole("region", { name: "Members" });
  await members.getByLabel("Email").fill(member.person.email);
  await members.getByLabel("Role", { exact: true }).selectOption("member");
  await members.getByRole("button", { name: "Add member" }).click();
  await expect(owner.page).toHaveURL(/#members$/);
  await expect(owner.page.locator(`.member[data-email="${member.person.email}"]`)).toContainText("Milo Member");
  await hydrated(owner.page);
  await expect(owner.page.getByRole("status", { name: "Connection" })).toHaveText("Live");

  await member.page.goto("/rooms");
  await member.page.getByRole("link", { name: "Shared plans" }).click();
  await hydrated(member.page);
  await expect(member.page.getByRole("status", { name: "Connection" })).toHaveText("Live");
  await expect(member.page.locator(".room-facts")).toContainText("you: member");

  // A message posted by one appears for the other without a reload.
  await owner.page.getByLabel("Message").fill("Welcome aboard, Milo.");
  await owner.page.getByLabel("Message").press("Enter");
  await expect(member.page.locator(".message--human")).toContainText("Welcome aboard, Milo.");
  await member.page.getByLabel("Message").fill("Glad to be here.");
  await member.page.getByLabel("Message").press("Enter");
  await expect(owner.page.locator(".message--human").last()).toContainText("Glad to be here.");
  await expect(owner.page.locator(".message--human").last().locator(".sender")).toHaveText("Milo Member");
});

test("a viewer reads the room but cannot post", async ({ signedIn }) => {
  const owner = await signedIn("Vic Owner");
  const viewer = await signedIn("Vera Viewer");
  await createRoom(owner.page, "Read only");
  await owner.page.getByLabel("Message").fill("For your eyes only.");
  await owner.page.getByLabel("Message").press("Enter");
  await expect(owner.page.locator(".message--human")).toContainText("For your eyes only.");
  const members = owner.page.getByRole("region", { name: "Members" });
  await members.getByLabel("Email").fill(viewer.person.email);
  await members.getByLabel("Role", { exact: true }).selectOption("viewer");
  await members.getByRole("button", { name: "Add member" }).click();
  await expect(owner.page.locator(`.member[data-email="${viewer.person.email}"]`)).toBeVisible();

  await viewer.page.goto(owner.page.url().replace(/#.*$/, ""));
  await hydrated(viewer.page);
  await expect(viewer.page.locator(".message--human")).toContainText("For your eyes only.");
  await expect(viewer.page.getByLabel("Message")).toBeDisabled();
  await expect(viewer.page.getByRole("button", { name: "Send" })).toBeDisabled();
  await expect(viewer.page.locator(".composer")).toContainText("You can read this room; only members can write.");
  await expect(viewer.page.getByRole("button", { name: "Start auto" })).toHaveCount(0);
  await expect(viewer.page.getByRole("button", { name: "Add agent" })).toHaveCount(0);

  // Anyone may leave.
  await viewer.page.getByRole("button", { name: "Leave room" }).click();
  await expect(viewer.page).toHaveURL(/\/rooms$/);
  await expect(viewer.page.getByRole("link", { name: "Read only" })).toHaveCount(0);
});

test("owners rename a room, open it to everyone, and delete it after confirming", async ({ signedIn }) => {
  const owner = await signedIn("Rita Renamer");
  const reader = await signedIn("Pablo Public");
  await createRoom(owner.page, "Draft room");
  const settings = owner.page.getByRole("region", { name: "Room settings" });
  await settings.getByLabel("Room name").fill("Town square");
  await settings.getByLabel("Visibility").selectOption("public");
  await settings.getByRole("button", { name: "Save settings" }).click();
  await expect(owner.page.getByRole("heading", { level: 1, name: "Town square" })).toBeVisible();

  // A public room is listed for every signed-in person, with its visibility, and read-only to them.
  await reader.page.goto("/rooms");
  const listed = reader.page.locator(".room-list li", { hasText: "Town square" });
  await expect(listed.locator(".visibility")).toHaveText("public");
  await listed.getByRole("link").click();
  await hydrated(reader.page);
  await expect(reader.page.getByLabel("Message")).toBeDisabled();

  await owner.page.getByText("Delete room…").click();
  await owner.page.getByRole("button", { name: "Delete this room for good" }).click();
  await expect(owner.page).toHaveURL(/\/rooms$/);
  await expect(owner.page.getByRole("link", { name: "Town square" })).toHaveCount(0);
});

test.describe("guests", () => {
  test("read a demo room and are asked to sign in to write", async ({ signedIn, browser }) => {
    const owner = await signedIn("Dana Demo");
    await createRoom(owner.page, "Open demo", "demo");
    await owner.page.getByLabel("Message").fill("Anyone can read this.");
    await owner.page.getByLabel("Message").press("Enter");
    await expect(owner.page.locator(".message--human")).toContainText("Anyone can read this.");

    const guest = await browser.newContext({ storageState: GUEST });
    const page = await guest.newPage();
    await page.goto(owner.page.url());
    await hydrated(page);
    await expect(page.locator(".message--human")).toContainText("Anyone can read this.");
    await expect(page.getByLabel("Message")).toBeDisabled();
    await page.locator(".composer").getByRole("link", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/signin\?next=\/rooms\//);
    await guest.close();
  });
});
