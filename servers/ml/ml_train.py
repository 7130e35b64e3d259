#!/usr/bin/env python3
"""One completion of the ML batch job: fetch the training CSV over HTTP, train a
scikit-learn RandomForestClassifier, score it on a held-out split.

    python3 servers/ml/ml_train.py --url http://127.0.0.1:18400/train.csv --trees 50 \
        --completion 1 --seed 1

Prints one JSON line with the timings (seconds) of each phase:
{"completion", "url", "status", "bytes", "rows", "features", "fetchS", "parseS", "trainS",
 "scoreS", "totalS", "accuracy", "trees", "sklearn"}
and exits 0; on any failure prints a JSON line with "error" and exits 1.
"""
import argparse
import json
import sys
import time
import urllib.request

T0 = time.monotonic()

import sklearn  # noqa: E402  (import time is part of the completion, as in a Job's pod)

from ml_model import fit, parse_csv, split  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--trees", type=int, default=50)
    p.add_argument("--max-depth", type=int, default=None)
    p.add_argument("--completion", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30.0)
    a = p.parse_args()
    out = {"completion": a.completion, "url": a.url, "trees": a.trees,
           "sklearn": sklearn.__version__, "importS": time.monotonic() - T0}
    try:
        t = time.monotonic()
        with urllib.request.urlopen(a.url, timeout=a.timeout) as resp:
            out["status"] = resp.status
            body = resp.read()
        out["fetchS"] = time.monotonic() - t
        out["bytes"] = len(body)

        t = time.monotonic()
        x, y = parse_csv(body)
        out["rows"], out["features"] = int(x.shape[0]), int(x.shape[1])
        out["parseS"] = time.monotonic() - t

        x_train, x_test, y_train, y_test = split(x, y, a.seed)
        t = time.monotonic()
        model = fit(x_train, y_train, a.trees, a.seed, a.max_depth)
        out["trainS"] = time.monotonic() - t

        t = time.monotonic()
        out["accuracy"] = float(model.score(x_test, y_test))
        out["scoreS"] = time.monotonic() - t
    except Exception as e:  # reported, with its kind, as this completion's failure
        out["error"] = f"{type(e).__name__}: {e}"
        out["totalS"] = time.monotonic() - T0
        print(json.dumps(out))
        return 1
    out["totalS"] = time.monotonic() - T0
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
