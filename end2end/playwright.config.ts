import { defineConfig, devices } from "@playwright/test";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";

// The suite runs against the release build: `make test` builds it first.
const port = Number(process.env.E2E_PORT ?? 3137);
const baseURL = `http://127.0.0.1:${port}`;
const root = path.resolve(__dirname, "..");
// cargo puts the server binary under CARGO_TARGET_DIR when that is set; the site stays in the checkout.
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, "target");
// Created once by the main process; test workers inherit it through the environment.
process.env.E2E_DATA_DIR ??= fs.mkdtempSync(path.join(os.tmpdir(), "ais-chatrooms-e2e-"));
const dataDir = process.env.E2E_DATA_DIR;
// The server starts on an empty database: the first project creates its first account (the
// admin) through the start page and keeps its session here for every other test.
const adminState = path.join(dataDir, "admin.json");
// The server's Telegram bot talks to a fake Bot API, whose scripted users the tests drive over
// its control port (see fake-telegram/).
const telegramPort = Number(process.env.E2E_TELEGRAM_PORT ?? 3138);
const telegramControlPort = Number(process.env.E2E_TELEGRAM_CONTROL_PORT ?? 3139);
const telegramToken = "424242:e2e-bot-token";
process.env.E2E_TELEGRAM_CONTROL_URL ??= `http://127.0.0.1:${telegramControlPort}`;

const chromium = {
  ...devices["Desktop Chrome"],
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  },
};

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
  },
  projects: [
    { name: "first-run", testMatch: /first-run\.setup\.ts$/, use: chromium },
    { name: "chromium", dependencies: ["first-run"], use: { ...chromium, storageState: adminState } },
  ],
  webServer: [
  {
    command: [
      path.join(targetDir, "debug/fake-telegram"),
      "--listen", `127.0.0.1:${telegramPort}`,
      "--control", `127.0.0.1:${telegramControlPort}`,
      "--token", telegramToken,
    ].join(" "),
    url: `http://127.0.0.1:${telegramControlPort}/healthz`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: "ignore",
    stderr: "pipe",
  },
  {
    command: path.join(targetDir, "release/server"),
    cwd: root,
    url: `${baseURL}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: path.join(root, "target/site"),
      DATABASE_URL: `sqlite://${path.join(dataDir, "e2e.db")}?mode=rwc`,
      GATEWAY_ROOT: path.join(dataDir, "control-plane"),
      RUST_LOG: "warn",
      DEMO_TOKEN_DELAY_MS: "15",
      // One person drives the whole suite far faster than anyone types; the limits have their
      // own tests (server/tests/limits.rs), so here they are off ("0").
      WRITE_RATE_PER_MINUTE: "0",
      WRITE_RATE_PER_ADDRESS_PER_MINUTE: "0",
      TELEGRAM_BOT_TOKEN: telegramToken,
      TELEGRAM_API_URL: `http://127.0.0.1:${telegramPort}`,
      TELEGRAM_POLL_SECONDS: "1",
    },
  },
  ],
});
