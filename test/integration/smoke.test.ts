import { env } from "cloudflare:workers";
import { expect, it } from "vitest";
import { createApp } from "../../src/app";
import bundle from "../.generated/gateway.json";
import { token } from "../helpers/tokens";

it("forwards an allowed call with the real credential", async () => {
  const app = createApp(bundle);
  await fetch("http://recorder.test/reset");
  const res = await app.fetch(
    new Request("https://gw.example/github/repos/acme/api/issues/1", {
      headers: { authorization: `Bearer ${await token()}` },
    }),
    env,
  );
  const body = await res.text();
  expect(res.status, body).toBe(200);
  const seen = (await (await fetch("http://recorder.test/")).json()) as { headers: Record<string, string> }[];
  expect(seen).toHaveLength(1);
  expect(seen[0].headers.authorization).toBe("Bearer canary-gh-7f3a9c2e1b");
});
