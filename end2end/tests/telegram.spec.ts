import { test, expect } from "./fixtures";

/** The fake Telegram's control port: the tests play the chat's user through it. */
const control = process.env.E2E_TELEGRAM_CONTROL_URL!;

type BotMessage = {
  message_id: number;
  text: string;
  buttons: { text: string; data: string }[];
  reply_to: number | null;
};

async function say(chat: number, text: string, replyTo?: number): Promise<number> {
  const response = await fetch(`${control}/chats/${chat}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(replyTo === undefined ? { text } : { text, reply_to: replyTo }),
  });
  expect(response.status).toBe(201);
  return (await response.json()).message_id;
}

async function botMessages(chat: number): Promise<BotMessage[]> {
  const response = await fetch(`${control}/chats/${chat}/bot-messages`);
  expect(response.status).toBe(200);
  return response.json();
}

/** Waits for the bot's answer to the user's message `to`. */
async function answerTo(chat: number, to: number): Promise<BotMessage> {
  let found: BotMessage | undefined;
  await expect
    .poll(async () => (found = (await botMessages(chat)).find((m) => m.reply_to === to)), { timeout: 20_000 })
    .toBeTruthy();
  return found!;
}

test("an operator links a Telegram chat, confirms a command there and unlinks it", async ({ page }) => {
  const chat = 700_000 + Math.floor(Math.random() * 100_000);
  await page.goto("/control-plane");
  await page.getByRole("link", { name: "Link a Telegram chat" }).click();
  await expect(page).toHaveURL(/\/control-plane\/telegram$/);
  await expect(page.getByRole("heading", { name: "Telegram", level: 1 })).toBeVisible();

  // A one-time code, shown once, with how to use it.
  await page.getByRole("button", { name: "Get a link code" }).click();
  const command = (await page.locator(".link-code").innerText()).trim();
  expect(command).toMatch(/^\/link [A-HJ-NP-Z2-9]{10}$/);
  await expect(page.getByText(/Valid once, until/)).toBeVisible();
  await page.reload();
  await expect(page.locator(".link-code")).toHaveCount(0);

  // The chat sends it; the page lists the chat.
  const link = await say(chat, command);
  expect((await answerTo(chat, link)).text).toContain("Linked to Ada Admin");
  await page.reload();
  await expect(page.getByRole("table")).toContainText(String(chat));

  // A command becomes a preview with buttons; Confirm writes the task.
  const asked = await say(chat, "lisa run backup_db");
  const preview = await answerTo(chat, asked);
  expect(preview.text).toContain("Intent: task_execution");
  expect(preview.text).toContain("Risk: high");
  expect(preview.buttons.map((b) => b.text)).toEqual(["Confirm", "Cancel"]);
  const press = await fetch(`${control}/chats/${chat}/presses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ message_id: preview.message_id, data: preview.buttons[0].data }),
  });
  expect(press.status).toBe(201);
  await expect
    .poll(async () => (await botMessages(chat)).find((m) => m.message_id === preview.message_id)?.text, {
      timeout: 20_000,
    })
    .toContain("✅ Confirmed by Ada Admin");

  // Unlinking on the page ends it: the chat speaks for nobody.
  await page.getByRole("button", { name: /^Unlink / }).click();
  await expect(page.getByText("No chat is linked to your account.")).toBeVisible();
  const after = await say(chat, "lisa run backup_db");
  expect((await answerTo(chat, after)).text).toContain("not linked");
});
