"""The papers' movie: tokens on S² clustering under self-attention, seen by a turning camera
([R]'s clustering movies; [M]'s multi-head movies). Writes a GIF (and an MP4 with --mp4, which
needs Debian's ffmpeg).

    PYTHONPATH=build/python python3 examples/sphere_movie.py [--out DIR] [--quick] [--mp4]
"""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")

import attnflow as af  # noqa: E402


def main(out: pathlib.Path, quick: bool, mp4: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    n, frames, size = (24, 6, 160) if quick else (64, 150, 480)
    # β = 4 makes the metastable multi-cluster stage visible before the final merger ([R] §4).
    res = af.simulate({"beta": 4.0}, af.init.uniform_sphere(n, 3, seed=3), t_end=30.0, dt=0.05, every=0.2,
                      observables=["clusters"])
    labels = af.clusters(res.x[-1]).labels
    print("clusters over time:", res.clusters[:: len(res.t) // 10].astype(int).tolist())
    for suffix in ["gif"] + (["mp4"] if mp4 else []):
        path = af.animate.tokens(res.x, out / f"sphere.{suffix}", t=res.t, frames=frames, size=size,
                                 dpi=40 if quick else 80, labels=labels, title="SA on $S^2$, $\\beta$ = 4")
        print("wrote", path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/examples/sphere_movie")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster version (used by the tests)")
    parser.add_argument("--mp4", action="store_true", help="also write an MP4 (ffmpeg)")
    args = parser.parse_args()
    main(pathlib.Path(args.out), args.quick, args.mp4)
