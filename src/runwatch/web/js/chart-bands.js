// A bucketed series' min–max band, drawn as one opaque vertical bar per bucket. A filled area
// between the min and max lines thins a one-step spike to a sliver (or to nothing, when the
// spike's bucket is the last one); a bar of at least one device pixel per bucket shows it at any
// zoom, up or down. Geometry is a pure function so it is testable without a canvas.

/**
 * The rectangles (device pixels, [left, top, width, height]) of a band, one per bucket with a
 * finite min and max, clipped to `clip` ({left, top, width, height}).
 *
 * xs      bucket x values (the first x in each bucket), ascending
 * lo, hi  bucket min / max (null or undefined where the bucket has none)
 * width   the bucket width in x units (bucket b covers [b * width, (b + 1) * width))
 * toX, toY  x / y value -> device pixel
 * range   [xmin, xmax]: the x window on screen (buckets wholly outside it are skipped)
 */
export function bandRects(xs, lo, hi, width, toX, toY, clip, range) {
  const out = [];
  if (!(width > 0)) return out;
  const right = clip.left + clip.width;
  const bottom = clip.top + clip.height;
  for (let i = 0; i < xs.length; i++) {
    const a = lo[i];
    const b = hi[i];
    if (a === null || a === undefined || b === null || b === undefined) continue;
    const start = Math.floor(xs[i] / width) * width;
    const end = start + width;
    if (end <= range[0] || start > range[1]) continue;
    let l = Math.max(clip.left, Math.floor(toX(start)));
    let r = Math.min(right, Math.floor(toX(end)));
    // Never thinner than a device pixel, and never pushed off the plot by the clip.
    if (r <= l) r = l + 1;
    if (r > right) {
      r = right;
      l = Math.min(l, r - 1);
    }
    const y1 = toY(b);
    const y2 = toY(a);
    let t = Math.max(clip.top, Math.floor(Math.min(y1, y2)));
    let btm = Math.min(bottom, Math.ceil(Math.max(y1, y2)));
    if (btm <= t) btm = t + 1;
    if (btm > bottom) {
      btm = bottom;
      t = Math.min(t, btm - 1);
    }
    out.push([l, t, r - l, btm - t]);
  }
  return out;
}

/** An opaque colour between `hex` and the panel background, so the line stays visible on it. */
export function bandColor(hex, amount = 0.5, background = "#13181f") {
  const parse = (h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));
  const fg = parse(hex);
  const bg = parse(background);
  const mix = fg.map((c, k) => Math.round(bg[k] + (c - bg[k]) * amount));
  return `#${mix.map((c) => c.toString(16).padStart(2, "0")).join("")}`;
}
