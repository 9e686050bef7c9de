// The room's live stream under a bad network. The page is opened through a reverse proxy in this
// test that can cut every connection or hold new ones back, as a flaky network or a restarting
// load balancer would: a stream cut mid-reply resumes after the last event it applied (nothing
// lost, nothing repeated), a gap longer than the server keeps makes the room reload itself, and
// events between the page's rendering and the stream's start are not lost.
import { test, expect, hydrated } from "./fixtures";
import type { APIRequestContext, Page } from "@playwright/test";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A reverse proxy to the app that can drop every connection, or hold new requests until resumed. */
class FlakyNetwork {
  private server: http.Server;
  private sockets = new Set<Socket>();
  private held: (() => void)[] = [];
  private holding = false;
  /** Each request that went through, with the `Last-Event-ID` it carried. */
  readonly seen: { path: string; lastEventId?: string }[] = [];

  constructor(private target: URL) {
    this.server = http.createServer((request, response) => {
      const forward = () => {
        this.seen.push({ path: request.url ?? "", lastEventId: request.headers["last-event-id"] as string | undefined });
        const upstream = http.request(
          { host: this.target.hostname, port: this.target.port, path: request.url, method: request.method, headers: request.headers },
          (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            response.flushHeaders();
            answer.pipe(response);
          },
        );
        upstream.on("error", () => response.destroy());
        request.pipe(upstream);
      };
      if (this.holding) this.held.push(forward);
      else forward();
    });
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Drops every open connection, streams included. */
  cut() {
    for (const socket of this.sockets) socket.destroy();
  }

  /** New requests wait until `resume`. */
  hold() {
    this.holding = true;
  }

  resume() {
    this.holding = false;
    for (const forward of this.held.splice(0)) forward();
  }

  streams(): { path: string; lastEventId?: string }[] {
    return this.seen.filter((r) => r.path.includes("/stream"));
  }

  async stop() {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let network: FlakyNetwork;
let proxied: string;

test.beforeEach(async ({ baseURL }) => {
  network = new FlakyNetwork(new URL(baseURL!));
  proxied = await network.start();
});

test.afterEach(async () => {
  await network.stop();
});

async function roomWithAgent(request: APIRequestContext, name: string, agent?: string): Promise<string> {
  const created = await request.post("/api/rooms", { data: { name } });
  expect(created.status()).toBe(201);
  const room = (await created.json()).id;
  if (agent) {
    const added = await request.post(`/api/rooms/${room}/agents`, {
      data: { name: agent, model: "demo", system_prompt: `You are ${agent}.`, temperature: 0.5 },
    });
    expect(added.status(), await added.text()).toBe(201);
  }
  return room;
}

const connection = (page: Page) => page.getByRole("status", { name: "Connection" });

test("a stream cut mid-reply resumes where it left off: nothing lost, nothing repeated", async ({ page, request }) => {
  const room = await roomWithAgent(request, "Flaky network", "Echo");
  await page.goto(`${proxied}/rooms/${room}`);
  await hydrated(page);
  await expect(connection(page)).toHaveText("Live");

  const posted = await request.post(`/api/rooms/${room}/messages`, {
    data: { content: "Tell me everything you know about resilient streams, at length please." },
  });
  expect(posted.status()).toBe(201);
  const reply = page.locator(".message--agent");
  await expect(reply.first()).toHaveAttribute("data-status", "streaming");
  network.cut();
  await expect(connection(page)).not.toHaveText("Live");
  await expect(connection(page)).toHaveText("Live", { timeout: 15_000 });
  await expect(reply.first()).toHaveAttribute("data-status", "complete", { timeout: 15_000 });
  await expect(reply).toHaveCount(1);
  // The browser resumed after the last event it had applied.
  const resumed = network.streams().slice(1);
  expect(resumed.length).toBeGreaterThan(0);
  expect(resumed[0].lastEventId ?? "", "the reconnection names the last event applied").not.toBe("");

  // What the page pieced together is exactly what the server stored and renders.
  const live = await reply.first().locator(".message-body").innerText();
  await page.reload();
  await hydrated(page);
  await expect(reply).toHaveCount(1);
  await expect(reply.first().locator(".message-body")).toHaveText(live);
});

test("a gap longer than the server keeps makes the room reload itself", async ({ page, request }) => {
  const room = await roomWithAgent(request, "Long absence");
  await page.goto(`${proxied}/rooms/${room}`);
  await hydrated(page);
  await expect(connection(page)).toHaveText("Live");
  network.hold();
  network.cut();
  await expect(connection(page)).not.toHaveText("Live");
  // More than the 4 MB of events a room keeps for replay, written while the page is away.
  const big = "x".repeat(31_000);
  for (let i = 0; i < 75; i++) {
    const posted = await request.post(`/api/rooms/${room}/messages`, { data: { content: `${i} ${big}` } });
    expect(posted.status()).toBe(201);
  }
  const newest = await request.post(`/api/rooms/${room}/messages`, { data: { content: "the newest note" } });
  expect(newest.status()).toBe(201);
  network.resume();
  await expect(connection(page)).toHaveText("Live", { timeout: 20_000 });
  await expect(page.locator(".message--human").last()).toContainText("the newest note");
  expect(network.seen.some((r) => r.path.endsWith("/api/fn/rooms/snapshot")), "the room was loaded afresh").toBe(true);
  const ids = await page
    .locator(".message--human")
    .evaluateAll((items) => items.map((item) => item.getAttribute("data-message-id")));
  expect(new Set(ids).size, "each message once").toBe(ids.length);
});


test("events between the page's rendering and the stream's start are not lost", async ({ page, request }) => {
  const created = await request.post("/api/rooms", { data: { name: "Slow start" } });
  const room = (await created.json()).id;
  // The browser bundle is held back, so the page sits rendered with no stream for a while.
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/pkg/*.wasm", async (route) => {
    await held;
    await route.continue();
  });
  await page.goto(`/rooms/${room}`);
  await expect(page.locator(".message--human")).toHaveCount(0);
  const posted = await request.post(`/api/rooms/${room}/messages`, { data: { content: "written meanwhile" } });
  expect(posted.status()).toBe(201);
  release();
  await hydrated(page);
  await expect(connection(page)).toHaveText("Live");
  await expect(page.locator(".message--human")).toHaveCount(1);
  await expect(page.locator(".message--human")).toContainText("written meanwhile");
});
