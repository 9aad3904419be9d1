// Hit-testing for the sweep canvases: the nearest drawn point to the pointer (a grid of cells,
// so a hover over 10,000 points looks at a handful), and the axis under the pointer. Pure.

/** An index over points (xs, ys: pixel arrays; NaN = not drawn) in cells of `cell` px. */
export function pointIndex(xs, ys, cell = 16) {
  const cells = new Map();
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const y = ys[i];
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const key = `${Math.floor(x / cell)},${Math.floor(y / cell)}`;
    let list = cells.get(key);
    if (!list) cells.set(key, (list = []));
    list.push(i);
  }
  return {
    /** The index of the point nearest (x, y) within `radius` px, or -1; ties: the later point
     * (drawn on top). */
    nearest(x, y, radius = 8) {
      let best = -1;
      let bestD = radius * radius;
      const r = Math.ceil(radius / cell);
      const cx = Math.floor(x / cell);
      const cy = Math.floor(y / cell);
      for (let gx = cx - r; gx <= cx + r; gx++) {
        for (let gy = cy - r; gy <= cy + r; gy++) {
          for (const i of cells.get(`${gx},${gy}`) || []) {
            const d = (xs[i] - x) ** 2 + (ys[i] - y) ** 2;
            if (d < bestD || (d === bestD && i > best)) {
              bestD = d;
              best = i;
            }
          }
        }
      }
      return best;
    },
  };
}

/** The index of the axis (at pixel positions `axisXs`) within `tolerance` px of x, or -1. */
export function axisAt(x, axisXs, tolerance = 14) {
  let best = -1;
  let bestD = tolerance;
  axisXs.forEach((ax, i) => {
    const d = Math.abs(ax - x);
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

/** Where `count` axes stand across [left, right]: evenly, the first and last at the edges. */
export function axisPositions(count, left, right) {
  if (count <= 1) return count ? [(left + right) / 2] : [];
  const step = (right - left) / (count - 1);
  return Array.from({ length: count }, (_, i) => left + step * i);
}
