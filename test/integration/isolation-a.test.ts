import { it } from "vitest";
import { expectOwnStorage } from "./isolation";

it("this test file's Durable Object storage is its own (see isolation.ts)", expectOwnStorage);
