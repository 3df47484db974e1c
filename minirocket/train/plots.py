"""Learning-curve plots drawn with Pillow (no plotting library needed).

One PNG per quantity (loss, the task metric): x = epoch, one line per (net, split). The
light net is blue, the booster orange; test curves are solid with dots, train curves thin.
Files are written atomically.
"""
import io
import math

from minirocket.data._atomic import atomic_write_bytes

COLORS = {"light": (31, 119, 180), "booster": (255, 127, 14)}
W, H = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 60


def _nice_ticks(lo, hi, n=5):
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    ticks = []
    t = start
    while t <= hi + 1e-12:
        ticks.append(t)
        t += step
    return ticks


def line_plot(series, title, ylabel, xlabel="epoch"):
    """Render a line chart; return PNG bytes.

    Parameters
    ----------
    series : list of (label, color, xs, ys, thick)
        One line each; non-finite points are skipped.
    title, ylabel, xlabel : str
    """
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    xs_all = [x for _, _, xs, ys, _ in series for x, y in zip(xs, ys) if _finite(y)]
    ys_all = [y for _, _, xs, ys, _ in series for y in ys if _finite(y)]
    d.text((LEFT, 12), title, fill="black")
    if not xs_all:
        d.text((LEFT, H // 2), "no data yet", fill="black")
        return _png(img)
    x0, x1 = min(xs_all), max(xs_all)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    y0, y1 = min(ys_all), max(ys_all)
    pad = (y1 - y0) * 0.05 or max(abs(y1) * 0.05, 1e-3)
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x, y):
        return (LEFT + (x - x0) / (x1 - x0) * pw, TOP + (1 - (y - y0) / (y1 - y0)) * ph)

    d.rectangle([LEFT, TOP, LEFT + pw, TOP + ph], outline="black")
    for t in _nice_ticks(y0, y1):
        _, yy = px(x0, t)
        d.line([LEFT - 4, yy, LEFT + pw, yy], fill=(225, 225, 225))
        d.text((4, yy - 6), f"{t:.4g}", fill="black")
    for t in _nice_ticks(x0, x1, n=min(10, max(1, int(x1 - x0)))):
        xx, _ = px(t, y0)
        d.line([xx, TOP + ph, xx, TOP + ph + 4], fill="black")
        d.text((xx - 6, TOP + ph + 8), f"{t:g}", fill="black")
    d.text((LEFT + pw // 2 - 15, H - 22), xlabel, fill="black")
    d.text((4, TOP - 16), ylabel, fill="black")
    for label, color, xs, ys, thick in series:
        pts = [px(x, y) for x, y in zip(xs, ys) if _finite(y)]
        if len(pts) > 1:
            d.line(pts, fill=color, width=3 if thick else 1)
        for p in pts if thick else []:
            d.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=color)
    # Legend on a white box in the top-right corner, drawn last so no line hides it.
    lx, ly = LEFT + pw - 140, TOP + 6
    d.rectangle([lx - 6, ly - 4, LEFT + pw - 4, ly + 16 * len(series) + 2], fill="white",
                outline=(160, 160, 160))
    for i, (label, color, _, _, thick) in enumerate(series):
        y = ly + 16 * i
        d.line([lx, y + 6, lx + 24, y + 6], fill=color, width=3 if thick else 1)
        d.text((lx + 30, y), label, fill="black")
    return _png(img)


def _finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def _png(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_learning_curves(run_dir, history, metric_name):
    """Write ``curves_loss.png`` and ``curves_<metric>.png`` into ``run_dir``.

    Parameters
    ----------
    run_dir : pathlib.Path
    history : list of dict
        One record per (epoch, net): ``{"epoch", "net", "train_loss", "test_loss",
        "train_<metric>", "test_<metric>"}``.
    metric_name : str
        ``accuracy`` or ``auc``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = []
    for qty, ylabel in (("loss", "cross-entropy"), (metric_name, metric_name)):
        series = []
        for net in ("light", "booster"):
            recs = [r for r in history if r.get("net") == net]
            if not recs:
                continue
            xs = [r["epoch"] for r in recs]
            for split, thick in (("test", True), ("train", False)):
                ys = [r.get(f"{split}_{qty}") for r in recs]
                if any(_finite(y) for y in ys):
                    series.append((f"{net} {split}", COLORS[net], xs, ys, thick))
        png = line_plot(series, f"{qty}: light vs booster, train vs test", ylabel)
        path = run_dir / f"curves_{qty}.png"
        atomic_write_bytes(path, png)
        out.append(path)
    return out
