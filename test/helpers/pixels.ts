/**
 * Looking at a decoded screenshot (helpers/png.ts) where the DOM says an element is: how much ink a box
 * holds, and how much of it is one colour. Browser tests use it to check that a page drew what its DOM
 * claims, where it claims it.
 */
import { expect } from "vitest";
import type { DecodedPng } from "./png";

export interface Region {
  /** Pixels darker than mid-grey: text drawn on the page's light surfaces. */
  dark: number;
  /** The share of pixels within `tolerance` (per channel) of `rgb`. */
  share(rgb: [number, number, number], tolerance?: number): number;
}

export type Box = { x: number; y: number; width: number; height: number };

/** `box` shrunk by `dx` on the left and right and `dy` at the top and bottom. */
export const inset = (box: Box, dx: number, dy: number): Box => ({
  x: box.x + dx,
  y: box.y + dy,
  width: box.width - 2 * dx,
  height: box.height - 2 * dy,
});

/** The pixels of `png` inside a CSS-pixel box (device scale 1, page not scrolled). */
export function region(png: DecodedPng, box: Box): Region {
  const x0 = Math.max(0, Math.ceil(box.x));
  const y0 = Math.max(0, Math.ceil(box.y));
  const x1 = Math.min(png.width, Math.floor(box.x + box.width));
  const y1 = Math.min(png.height, Math.floor(box.y + box.height));
  const pixels: [number, number, number][] = [];
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * png.width + x) * png.channels;
      pixels.push([png.pixels[i]!, png.pixels[i + 1]!, png.pixels[i + 2]!]);
    }
  }
  expect(pixels.length, `box ${JSON.stringify(box)} is inside the screenshot`).toBeGreaterThan(0);
  return {
    dark: pixels.filter(([r, g, b]) => 0.299 * r + 0.587 * g + 0.114 * b < 128).length,
    share: (rgb, tolerance = 8) =>
      pixels.filter((p) => p.every((v, k) => Math.abs(v - rgb[k]!) <= tolerance)).length / pixels.length,
  };
}
