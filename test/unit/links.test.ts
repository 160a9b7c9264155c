/** Link and Location headers pointed back at the gateway (src/gateway/links.ts). */
import { describe, expect, it } from "vitest";
import { responseHeaders } from "../../src/gateway/forward";
import { aliasedPath, rewriteLinkHeader, rewriteLocation, rewriteUrl } from "../../src/gateway/links";
import type { ServiceSpec } from "../../src/policy/types";
import { route } from "../../src/request/route";

const GITHUB = "https://api.github.com";
const PATH_FORM = "https://firebreak.acme.example/github";
const HOST_FORM = "https://github.gw.acme.example";
/** npm start: the dev overlay points services at the demo upstream under a base path. */
const DEV = "http://127.0.0.1:8788/github";
const DEV_GW = "http://127.0.0.1:8787/github";

describe("rewriteUrl", () => {
  it.each([
    [
      "path form",
      `${GITHUB}/repos/acme/api/issues?page=2`,
      GITHUB,
      PATH_FORM,
      `${PATH_FORM}/repos/acme/api/issues?page=2`,
    ],
    [
      "host form",
      `${GITHUB}/repos/acme/api/issues?page=2`,
      GITHUB,
      HOST_FORM,
      `${HOST_FORM}/repos/acme/api/issues?page=2`,
    ],
    ["the upstream root", `${GITHUB}/`, GITHUB, PATH_FORM, `${PATH_FORM}/`],
    ["the upstream root without a slash", GITHUB, GITHUB, PATH_FORM, `${PATH_FORM}/`],
    ["a base path", `${DEV}/repos/acme/api/issues?page=3`, DEV, DEV_GW, `${DEV_GW}/repos/acme/api/issues?page=3`],
    ["the base path itself", DEV, DEV, DEV_GW, DEV_GW],
    ["an absolute path", "/repos/acme/api/pulls/1", GITHUB, PATH_FORM, `${PATH_FORM}/repos/acme/api/pulls/1`],
    ["an absolute path under the base path", "/github/x", DEV, DEV_GW, `${DEV_GW}/x`],
    ["a scheme-relative URL", "//api.github.com/user", GITHUB, PATH_FORM, `${PATH_FORM}/user`],
    [
      "the host in upper case and the default port",
      "HTTPS://API.GITHUB.COM:443/user",
      GITHUB,
      PATH_FORM,
      `${PATH_FORM}/user`,
    ],
    ["a fragment", `${GITHUB}/user#x`, GITHUB, PATH_FORM, `${PATH_FORM}/user#x`],
    [
      "an encoded query kept as sent",
      `${GITHUB}/search/issues?q=repo%3Aacme%2Fapi+is%3Aopen&page=2`,
      GITHUB,
      PATH_FORM,
      `${PATH_FORM}/search/issues?q=repo%3Aacme%2Fapi+is%3Aopen&page=2`,
    ],
    // GitHub's own Link headers often address repositories by id: rewritten like any other, so the
    // client stays on the gateway (where the catalog decides about /repositories/{id}).
    [
      "an id-addressed repository",
      `${GITHUB}/repositories/1300192/issues?page=2`,
      GITHUB,
      PATH_FORM,
      `${PATH_FORM}/repositories/1300192/issues?page=2`,
    ],
  ])("rewrites %s", (_name, ref, upstream, base, expected) => {
    expect(rewriteUrl(ref, upstream, base)).toBe(expected);
  });

  it.each([
    ["another host", "https://uploads.github.com/repos/acme/api/releases/1/assets", GITHUB],
    ["another scheme", "http://api.github.com/user", GITHUB],
    ["another port", "https://api.github.com:8443/user", GITHUB],
    ["a host that only starts like the upstream's", "https://api.github.com.evil.example/user", GITHUB],
    ["userinfo", "https://user:pw@api.github.com/user", GITHUB],
    ["outside the base path", "http://127.0.0.1:8788/slack/api/chat.postMessage", DEV],
    ["a path that only starts like the base path", "http://127.0.0.1:8788/githubx/user", DEV],
    ["a relative path", "page/2", GITHUB],
    ["a query-only reference", "?page=2", GITHUB],
    ["an empty value", "", GITHUB],
    ["a malformed URL", "https://[::1/x", GITHUB],
    ["another scheme entirely", "mailto:ops@acme.example", GITHUB],
  ])("leaves %s alone", (_name, ref, upstream) => {
    expect(rewriteUrl(ref, upstream, PATH_FORM)).toBeNull();
    expect(rewriteLocation(ref, upstream, PATH_FORM)).toBe(ref);
  });

  it("gives nothing for an upstream that does not parse", () => {
    expect(rewriteUrl(`${GITHUB}/user`, "not a url", PATH_FORM)).toBeNull();
  });
});

describe("rewriteLinkHeader", () => {
  const page = (n: number, host = GITHUB) => `${host}/repos/acme/api/issues?per_page=2&page=${n}`;

  it("rewrites every entry of GitHub's pagination header and keeps its parameters as sent", () => {
    const header = `<${page(1)}>; rel="prev", <${page(3)}>; rel="next", <${page(5)}>; rel="last", <${page(1)}>; rel="first"`;
    expect(rewriteLinkHeader(header, GITHUB, PATH_FORM)).toBe(
      `<${page(1, PATH_FORM)}>; rel="prev", <${page(3, PATH_FORM)}>; rel="next", ` +
        `<${page(5, PATH_FORM)}>; rel="last", <${page(1, PATH_FORM)}>; rel="first"`,
    );
  });

  it("rewrites entry by entry: other origins and relative targets stay as they are", () => {
    const header = `<https://docs.github.com/rest>; rel="help",<${page(2)}>;rel=next ,  </relative>; rel="self"`;
    expect(rewriteLinkHeader(header, GITHUB, HOST_FORM)).toBe(
      `<https://docs.github.com/rest>; rel="help",<${page(2, HOST_FORM)}>;rel=next ,  <${HOST_FORM}/relative>; rel="self"`,
    );
  });

  it("reads quoted parameters with commas, semicolons and brackets without splitting there", () => {
    const header = `<${page(2)}>; rel="next"; title="a, b; <c>", <${page(3)}>; title*=UTF-8''x; rel="last"`;
    expect(rewriteLinkHeader(header, GITHUB, PATH_FORM)).toBe(
      `<${page(2, PATH_FORM)}>; rel="next"; title="a, b; <c>", <${page(3, PATH_FORM)}>; title*=UTF-8''x; rel="last"`,
    );
  });

  it("keeps a header with empty list elements readable", () => {
    expect(rewriteLinkHeader(`, <${page(2)}>; rel="next",`, GITHUB, PATH_FORM)).toBe(
      `, <${page(2, PATH_FORM)}>; rel="next",`,
    );
  });

  it.each([
    ["no brackets", `${page(2)}; rel="next"`],
    ["an unclosed bracket", `<${page(2)}; rel="next"`],
    ["an unterminated quote", `<${page(2)}>; rel="next, <${page(3)}>; rel="last"`],
    ["a second target before a comma", `<${page(2)}> <${page(3)}>; rel="next"`],
    ["text before the target", `x <${page(2)}>; rel="next"`],
    ["only whitespace", "   "],
  ])("passes a malformed header unchanged: %s", (_name, header) => {
    expect(rewriteLinkHeader(header, GITHUB, PATH_FORM)).toBe(header);
  });

  it("leaves a target alone that would not stay a target after rewriting", () => {
    // A base with a space (never produced by route()) must not break the header's syntax.
    const header = `<${page(2)}>; rel="next"`;
    expect(rewriteLinkHeader(header, GITHUB, "https://gw example/github")).toBe(header);
  });
});

describe("responseHeaders", () => {
  const upstream = new Headers({
    link: `<${GITHUB}/user/repos?page=2>; rel="next"`,
    location: `${GITHUB}/repos/acme/api`,
    "content-type": "application/json",
    "set-cookie": "a=b",
  });

  const service = { name: "github", upstream: GITHUB, link_aliases: [] } as unknown as ServiceSpec;
  const req = (segments: string[], svc = service) =>
    ({ service: svc, segments, publicBase: PATH_FORM }) as unknown as Parameters<typeof responseHeaders>[1];

  it("points Link and Location back at the gateway, drops what is not allowed", () => {
    const out = responseHeaders(upstream, req(["user", "repos"]));
    expect(out.get("link")).toBe(`<${PATH_FORM}/user/repos?page=2>; rel="next"`);
    expect(out.get("location")).toBe(`${PATH_FORM}/repos/acme/api`);
    expect(out.get("content-type")).toBe("application/json");
    expect(out.get("set-cookie")).toBeNull();
  });

  it("passes them as sent without a gateway base", () => {
    const out = responseHeaders(upstream);
    expect(out.get("link")).toBe(upstream.get("link"));
    expect(out.get("location")).toBe(upstream.get("location"));
  });
});

describe("link_aliases: GitHub's pages by repository id are the same call by owner/name", () => {
  const aliases = [{ from: ["repositories", null], to: ["repos", null, null] }];
  const call = ["repos", "acme", "api", "issues"];

  it("points a Link to the same endpoint under the alias at the request's own address", () => {
    expect(aliasedPath("/repositories/123/issues", call, aliases)).toBe("/repos/acme/api/issues");
    const svc = { name: "github", upstream: GITHUB, link_aliases: aliases } as unknown as ServiceSpec;
    const headers = new Headers({ link: `<${GITHUB}/repositories/123/issues?page=2>; rel="next"` });
    const out = responseHeaders(headers, { service: svc, segments: call, publicBase: PATH_FORM } as never);
    expect(out.get("link")).toBe(`<${PATH_FORM}/repos/acme/api/issues?page=2>; rel="next"`);
  });

  it.each([
    ["another endpoint", "/repositories/123/pulls"],
    ["a deeper path", "/repositories/123/issues/1"],
    ["no id", "/repositories"],
    ["not the alias", "/orgs/acme/issues"],
  ])("leaves %s unchanged", (_what, path) => {
    expect(aliasedPath(path, call, aliases)).toBe(path);
  });

  it("does nothing for a request that is not under the alias's target", () => {
    expect(aliasedPath("/repositories/123/issues", ["user", "issues"], aliases)).toBe("/repositories/123/issues");
  });
});

describe("route(): the gateway base of a call, in the form it came in", () => {
  const services = { github: { name: "github", upstream: GITHUB } as ServiceSpec };
  const base = (url: string, domain?: string) => {
    const routed = route({ method: "GET", url, headers: new Headers() }, services, domain);
    return routed.ok ? routed.request.publicBase : routed.reason;
  };

  it.each([
    ["path form", "https://firebreak.acme.example/github/user", undefined, "https://firebreak.acme.example/github"],
    ["path form with a port", "http://127.0.0.1:8787/github/repos/acme/api/issues?page=2", undefined, DEV_GW],
    ["host form", "https://github.gw.acme.example/user", "gw.acme.example", HOST_FORM],
    ["host form with a port", "https://github.gw.acme.example:8443/user", "gw.acme.example", `${HOST_FORM}:8443`],
    [
      "path form on a domain that routes by host",
      "https://gw.acme.example/github/user",
      "gw.acme.example",
      "https://gw.acme.example/github",
    ],
  ])("%s", (_name, url, domain, expected) => {
    expect(base(url, domain)).toBe(expected);
  });
});
