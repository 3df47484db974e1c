"""How light-net inference cost grows with batch size and width; writes a JSON and a PNG.

Times ``serve.compile_light(WRN-16-k).predict`` for k in {1, 2, 4} and batch sizes
1..256 on one backend, and reports milliseconds per image and GFLOP/s (conv + fc
multiply-adds x 2 over the time). The plot is drawn with Pillow's ImageDraw (Pillow is
already a dependency of the package; no plotting library is needed)::

    python benchmarks/scaling.py --backend numba --json docs/benchmarks_scaling.json \\
        --png docs/benchmarks_scaling.png
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import conv_flops, images, light_wrn, median_ms, sgemm_gflops  # noqa: E402

BATCHES = (1, 4, 16, 64, 256)
WIDTHS = (1, 2, 4)
COLORS = {1: (31, 119, 180), 2: (214, 39, 40), 4: (44, 160, 44)}


def measure(backend, batches=BATCHES, widths=WIDTHS, budget_s=0.6):
    from minirocket import serve
    from minirocket.backend import get_backend
    out = {}
    for k in widths:
        net = light_wrn(width=k)
        fast = serve.compile_light(net, backend=backend)
        for n in batches:
            x = get_backend(backend).asarray(images(n))
            ms, iqr, reps = median_ms(lambda: fast.predict(x), repeat=3, min_time=budget_s)
            gf = conv_flops(net, n) / (ms * 1e-3) / 1e9
            out[f"w{k}_b{n}"] = {"width": k, "batch": n, "ms": ms, "iqr_ms": iqr,
                                 "ms_per_image": ms / n, "gflops": gf, "repeats": reps}
            print(f"WRN-16-{k} batch {n:4d}: {ms:9.3f} ms  ({ms / n:7.3f} ms/image, "
                  f"{gf:6.1f} GFLOP/s)", flush=True)
    return out


def plot(data, roof, path, title):
    """Two log-log panels: ms per image vs batch, and GFLOP/s vs batch, one line per width."""
    from PIL import Image, ImageDraw
    W, H, pad = 1000, 420, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.text((pad, 10), title, fill="black")
    panels = [("ms per image (log)", "ms_per_image"), ("GFLOP/s (log); dashed: sgemm roof",
                                                        "gflops")]
    pw = (W - 3 * pad) // 2
    batches = sorted({v["batch"] for v in data.values()})
    for p, (label, key) in enumerate(panels):
        x0, y0, x1, y1 = pad + p * (pw + pad), 40, pad + p * (pw + pad) + pw, H - pad
        vals = [v[key] for v in data.values()] + ([roof] if key == "gflops" else [])
        lo, hi = math.log10(min(vals)) - 0.1, math.log10(max(vals)) + 0.1
        bl, bh = math.log2(batches[0]), math.log2(batches[-1])

        def xy(b, v):
            fx = (math.log2(b) - bl) / ((bh - bl) or 1)
            fy = (math.log10(v) - lo) / ((hi - lo) or 1)
            return x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)
        d.rectangle([x0, y0, x1, y1], outline="black")
        d.text((x0, y1 + 25), f"batch size (log2)   {label}", fill="black")
        for b in batches:
            px, _ = xy(b, 10 ** lo)
            d.line([px, y1, px, y1 + 5], fill="black")
            d.text((px - 8, y1 + 8), str(b), fill="black")
        for e in range(math.ceil(lo), math.floor(hi) + 1):
            _, py = xy(batches[0], 10 ** e)
            d.line([x0 - 5, py, x0, py], fill="black")
            d.text((x0 - 45, py - 6), f"1e{e}", fill="black")
        if key == "gflops":
            _, py = xy(batches[0], roof)
            for sx in range(int(x0), int(x1), 12):
                d.line([sx, py, sx + 6, py], fill="gray")
        for k, color in COLORS.items():
            pts = [xy(v["batch"], v[key]) for v in sorted(data.values(), key=lambda v: v["batch"])
                   if v["width"] == k]
            if len(pts) > 1:
                d.line(pts, fill=color, width=2)
            for px, py in pts:
                d.ellipse([px - 3, py - 3, px + 3, py + 3], fill=color)
            if pts:
                d.text((x1 - 90, y0 + 10 + 14 * list(COLORS).index(k)), f"WRN-16-{k}",
                       fill=color)
    tmp = path + ".tmp.png"
    img.save(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="numba")
    ap.add_argument("--json")
    ap.add_argument("--png")
    args = ap.parse_args(argv)
    roof = sgemm_gflops()
    print(f"sgemm 2048^3 roof: {roof:.0f} GFLOP/s")
    data = measure(args.backend)
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"backend": args.backend, "sgemm_gflops": roof, "points": data}, f,
                      indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, args.json)
    if args.png:
        plot(data, roof, args.png, f"light WRN-16-k inference on '{args.backend}', float32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
