/** An issuer's `require`: the claims every token must carry with one of the listed values (src/identity/workload.ts). */
import { describe, expect, it } from "vitest";
import { unmetRequirement } from "../../src/identity/workload";

const REQUIRE = { repository_owner: ["acme"] };

describe("unmetRequirement", () => {
  it("a token of the required owner passes; no require is no requirement", () => {
    expect(
      unmetRequirement({ repository_owner: "acme", sub: "repo:acme/api:ref:refs/heads/main" }, REQUIRE),
    ).toBeNull();
    expect(unmetRequirement({ repository_owner: "evil" }, undefined)).toBeNull();
  });

  it.each([
    ["another owner", { repository_owner: "evil" }],
    ["no such claim", { sub: "repo:acme/api:ref:refs/heads/main" }],
    ["a list holding the value", { repository_owner: ["acme"] }],
    ["another case", { repository_owner: "ACME" }],
    ["a number", { repository_owner: 1 }],
  ])("%s is refused, naming the claim", (_, payload) => {
    expect(unmetRequirement(payload, REQUIRE)).toBe("repository_owner is not one of the required values");
  });

  it("every required claim must be met", () => {
    const both = { repository_owner: ["acme"], repository: ["acme/api"] };
    expect(unmetRequirement({ repository_owner: "acme", repository: "acme/api" }, both)).toBeNull();
    expect(unmetRequirement({ repository_owner: "acme", repository: "acme/web" }, both)).toBe(
      "repository is not one of the required values",
    );
  });

  it("an inherited property is not a claim", () => {
    expect(unmetRequirement({}, { constructor: ["Object"] })).toBe("constructor is not one of the required values");
  });
});
