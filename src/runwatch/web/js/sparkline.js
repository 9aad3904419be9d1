// A canvas sparkline: the last MAX_SAMPLES samples of one series, auto-scaled to its own range,
// redrawn at most once per animation frame. Non-finite samples are gaps. The element carries
// `data-samples` (how many samples it holds) so tests and people can read it without globals.

export const MAX_SAMPLES = 120;
const HEIGHT = 28;
const PAD = 2.5;

/** Mount a sparkline in `el`; `color` is any CSS colour, `cap` the number of samples kept. */
export function mount(el, { color = "#2dd4bf", cap = MAX_SAMPLES, height = HEIGHT } = {}) {
  const canvas = document.createElement("canvas");
  canvas.className = "sparkline-canvas";
  canvas.height = height;
  el.classList.add("sparkline");
  el.append(canvas);
  let xs = [];
  let ys = [];
  let frame = 0;

  function trim() {
    if (ys.length > cap) {
      xs = xs.slice(-cap);
      ys = ys.slice(-cap);
    }
    el.dataset.samples = String(ys.length);
  }

  function draw() {
    frame = 0;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, el.clientWidth);
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of ys) {
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (lo > hi) return; // nothing finite to draw
    if (lo === hi) {
      lo -= 1;
      hi += 1;
    }
    const n = ys.length;
    // Right-aligned in `cap` slots: a young series grows in from the right, as a live one should.
    const slot = (width - 2 * PAD) / Math.max(1, cap - 1);
    const px = (i) => width - PAD - (n - 1 - i) * slot;
    const py = (v) => height - PAD - ((v - lo) / (hi - lo)) * (height - 2 * PAD);

    // One path per run of finite samples: a gap stays a gap.
    const runs = [];
    let current = [];
    ys.forEach((v, i) => {
      if (Number.isFinite(v)) current.push([px(i), py(v)]);
      else if (current.length) {
        runs.push(current);
        current = [];
      }
    });
    if (current.length) runs.push(current);

    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (const pts of runs) {
      ctx.beginPath();
      ctx.moveTo(pts[0][0], height);
      for (const [x, y] of pts) ctx.lineTo(x, y);
      ctx.lineTo(pts[pts.length - 1][0], height);
      ctx.closePath();
      ctx.globalAlpha = 0.14;
      ctx.fillStyle = color;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.beginPath();
      pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (pts.length === 1) ctx.lineTo(pts[0][0] - 1, pts[0][1]);
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.4;
      ctx.stroke();
    }
    const last = runs.length ? runs[runs.length - 1] : null;
    if (last && Number.isFinite(ys[n - 1])) {
      const [x, y] = last[last.length - 1];
      ctx.beginPath();
      ctx.arc(x, y, 2.2, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
    }
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  const resize = new ResizeObserver(schedule);
  resize.observe(el);
  el.dataset.samples = "0";

  return {
    /** Replace every sample (hydration): `x` steps, `values` numbers (NaN/±Infinity are gaps). */
    set(x, values) {
      xs = x.slice(-cap);
      ys = values.slice(-cap);
      trim();
      schedule();
    },
    /** Add one sample; one older than the newest is put in step order. */
    push(x, value) {
      if (xs.length && x < xs[xs.length - 1]) {
        let at = xs.length - 1;
        while (at > 0 && xs[at - 1] > x) at--;
        xs.splice(at, 0, x);
        ys.splice(at, 0, value);
      } else {
        xs.push(x);
        ys.push(value);
      }
      trim();
      schedule();
    },
    /** The newest sample's value, or undefined. */
    get latest() {
      return ys.length ? ys[ys.length - 1] : undefined;
    },
    get count() {
      return ys.length;
    },
    destroy() {
      resize.disconnect();
      cancelAnimationFrame(frame);
      canvas.remove();
    },
  };
}
