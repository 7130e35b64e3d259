#!/usr/bin/env python3
"""Writes the ML workload's training set: a seeded synthetic classification problem
(scikit-learn's make_classification) as CSV with a header, label in the last column.

    python3 servers/ml/ml_data.py --rows 5000 --features 20 --seed 1 --out train.csv

Prints one JSON line: {"rows", "features", "bytes", "sha256", "out"}.
"""
import argparse
import hashlib
import json
import sys

import numpy as np
from sklearn.datasets import make_classification


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--classes", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if a.rows < 10 or a.features < 2:
        print(f'Cannot generate data: "--rows" must be >= 10 and "--features" >= 2, '
              f'got {a.rows} and {a.features}', file=sys.stderr)
        return 2
    x, y = make_classification(
        n_samples=a.rows,
        n_features=a.features,
        n_informative=max(2, a.features // 2),
        n_redundant=max(0, a.features // 4),
        n_classes=a.classes,
        random_state=a.seed,
    )
    header = ",".join([f"f{i}" for i in range(a.features)] + ["label"])
    data = np.column_stack([x, y])
    fmt = ["%.6f"] * a.features + ["%d"]
    np.savetxt(a.out, data, delimiter=",", header=header, comments="", fmt=fmt)
    with open(a.out, "rb") as f:
        body = f.read()
    print(json.dumps({
        "rows": a.rows,
        "features": a.features,
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "out": a.out,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
