/**
 * A `fetch`-style handler (a Hono app's `app.fetch`) served by node:http on 127.0.0.1 and a free port,
 * so that a real browser can load pages rendered in this Node process with their real headers.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface Served {
  /** `http://127.0.0.1:<port>/` */
  url: URL;
  close(): Promise<void>;
}

export async function serve(handler: FetchHandler): Promise<Served> {
  const server = createServer(async (req, res) => {
    try {
      const response = await handler(await toRequest(req));
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of response.headers) headers[name] = value;
      // Several Set-Cookie headers stay several (Node's Headers has getSetCookie; the Workers types do not say so).
      const cookies = (response.headers as unknown as { getSetCookie(): string[] }).getSetCookie();
      if (cookies.length > 0) headers["set-cookie"] = cookies;
      res.writeHead(response.status, headers);
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`test server: ${(err as Error).message}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

async function toRequest(req: IncomingMessage): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(new URL(req.url ?? "/", `http://${req.headers.host ?? "127.0.0.1"}`), {
    method: req.method,
    headers,
    body: hasBody ? Buffer.concat(chunks) : undefined,
  });
}
