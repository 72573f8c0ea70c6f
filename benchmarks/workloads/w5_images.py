"""W5: 500 calls of run.log_image with 64x64 RGB uint8 numpy images.

The images are random noise from a fixed seed, made before the timed loop;
noise does not compress, so the bytes figure is an upper bound per image.
"""

import numpy as np

import runicorn as rn
from common import Params, Report, disk_usage, run_phases, storage_root


def log_images(params: Params, report: Report) -> None:
    images = np.random.default_rng(6).integers(0, 256, size=(params.images, 64, 64, 3), dtype=np.uint8)
    root = storage_root(params)
    run = rn.init(path="bench/w5", storage=str(root))
    with report.timed(f"{params.images} × log_image") as loop:
        for step, image in enumerate(images):
            run.log_image("sample", image, step=step)
    report.add("time per image", loop.seconds / params.images, "s")
    with report.timed("finish()"):
        run.finish()
    size, files = disk_usage(root)
    report.add("bytes written", size, "bytes")
    report.add("files written", files, "count")


if __name__ == "__main__":
    run_phases({"main": log_images})
