// Image blobs fetched once and decoded once: PNG/JPEG into an ImageBitmap, raw heatmaps and
// label maps into their values plus a coloured bitmap. Decoded images live in one bounded LRU
// cache per page (MAX_DECODED images, MAX_DECODED_BYTES of pixels and values), so scrubbing a
// long history never grows the page's memory; blobs are immutable, so a hit is always right.

import { getBlob } from "./api.js";
import { LruCache, RAW_MIMES, decodeRaw, heatmapPixels, labelPixels, offScaleKinds, scaleOf } from "./media-data.js";

export const MAX_DECODED = 64;
export const MAX_DECODED_BYTES = 128 * 1024 * 1024;

const cache = new LruCache({
  maxEntries: MAX_DECODED,
  maxBytes: MAX_DECODED_BYTES,
  onEvict: (img) => img.bitmap && img.bitmap.close(),
});
const pending = new Map(); // sha256 -> Promise of a decoded image (requests in flight only)

/** How many decoded images the cache holds, and their bytes (for tests and the benchmark). */
export function cacheStats() {
  return { entries: cache.size, bytes: cache.bytes, max_entries: MAX_DECODED, max_bytes: MAX_DECODED_BYTES };
}

async function decode(item) {
  // Through api.js, so a refused token brings up the prompt like any other request.
  const blob = await getBlob(item.url);
  if (!RAW_MIMES[item.mime]) {
    const bitmap = await createImageBitmap(blob);
    return { kind: "image", width: bitmap.width, height: bitmap.height, bitmap, values: null };
  }
  const values = decodeRaw(await blob.arrayBuffer(), item.mime, item.width, item.height);
  let lo = NaN;
  let hi = NaN;
  let offScale = [];
  let pixels;
  if (item.kind === "labels") pixels = labelPixels(values);
  else {
    [lo, hi] = scaleOf(values, item.vmin, item.vmax);
    pixels = heatmapPixels(values, lo, hi);
    offScale = offScaleKinds(values);
  }
  const bitmap = await createImageBitmap(new ImageData(pixels, item.width, item.height));
  return { kind: item.kind, width: item.width, height: item.height, bitmap, values, lo, hi, offScale };
}

/** The decoded image of a media item ({url, sha256, mime, kind, width, height, vmin, vmax}). */
export function load(item) {
  const hit = cache.get(item.sha256);
  if (hit) return Promise.resolve(hit);
  let wait = pending.get(item.sha256);
  if (!wait) {
    wait = decode(item).then(
      (img) => {
        pending.delete(item.sha256);
        const bytes = img.width * img.height * 4 + (img.values ? img.values.byteLength : 0);
        cache.set(item.sha256, img, bytes);
        return img;
      },
      (err) => {
        pending.delete(item.sha256);
        throw err;
      },
    );
    pending.set(item.sha256, wait);
  }
  return wait;
}

/** Whether an item's image is decoded already (a prefetch need not ask for it). */
export function cached(sha256) {
  return cache.has(sha256);
}
