#!/usr/bin/env python3
"""The inference workload's model server: the ML batch job's RandomForest served over HTTP.

Two steps, so a run trains once and every replica serves the same model:

    python3 servers/ml/ml_serve.py prepare --data train.csv --trees 50 --seed 1 \
        --model model.pkl --payload-dir payloads --payloads 1024,16384,131072
    python3 servers/ml/ml_serve.py serve --model model.pkl --port 18500
    python3 servers/ml/ml_serve.py payloads --data train.csv --seed 1 --payload-dir payloads

`payloads` writes only the request bodies (the same files as `prepare`, no model): the cluster
target's client pods make their own copy this way.

`prepare` trains the Job's model (`ml_model.py`: the same CSV, split and seeded forest as
completion 1 of `ml_train.py` with `--seed`), pickles it for this run (a run artifact, never
committed) and writes one request body per payload size: `payload-<bytes>.json`, exactly that
many bytes, `{"instances":[[f0,...,fN-1],...]}` holding rows of the held-out 20 % split (taken
in order, cycled if needed), each feature as in the CSV (`%.6f`), then spaces (JSON whitespace)
up to the size. It prints one JSON line: the model's figures and, per payload, its bytes, rows
and sha256. A size too small for one row is refused (exit 2).

`serve` loads the pickle and answers, over HTTP/1.1 with keep-alive (one thread per connection):
- `POST /predict` with such a body: 200 `{"predictions":[label,...]}`, one label per row;
  400 for a body that is not JSON, has no non-empty `instances` list, or a row that is not a list
  of exactly N finite numbers (the message names the row); 411 without Content-Length; 413 above
  `--max-body` bytes (default 1 MiB, read no further).
- `GET /healthz`: 200 and the model's figures (trees, features, accuracy, sklearn version ...).
- anything else: 404 (unknown path) or 405 (wrong method).
"""
import argparse
import hashlib
import json
import math
import pickle
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import sklearn

from ml_model import fit, parse_csv, split

OPEN = b'{"instances":['
CLOSE = b"]}"


def payload_body(rows, size: int) -> tuple[bytes, int]:
    """A request body of exactly `size` bytes holding as many whole rows as fit."""
    encoded = [("[" + ",".join("%.6f" % v for v in row) + "]").encode() for row in rows]
    parts = []
    used = len(OPEN) + len(CLOSE)
    i = 0
    while True:
        row = encoded[i % len(encoded)]
        extra = len(row) + (1 if parts else 0)
        if used + extra > size:
            break
        parts.append(row)
        used += extra
        i += 1
    if not parts:
        raise ValueError(
            f'Cannot build a payload of {size} bytes: one row needs {len(OPEN) + len(CLOSE) + len(encoded[0])}')
    body = OPEN + b",".join(parts) + CLOSE
    return body + b" " * (size - len(body)), len(parts)


def write_payloads(x_test, sizes: list[int], directory: str) -> list[dict] | None:
    """Writes `payload-<bytes>.json` per size; None (after saying why) when one cannot be."""
    payloads = []
    for size in sizes:
        try:
            body, rows = payload_body(x_test, size)
        except ValueError as e:
            print(str(e), file=sys.stderr)
            return None
        path = f"{directory}/payload-{size}.json"
        with open(path, "wb") as f:
            f.write(body)
        payloads.append({"bytes": size, "rows": rows, "sha256": hashlib.sha256(body).hexdigest(),
                         "path": path})
    return payloads


def prepare(a) -> int:
    with open(a.data, "rb") as f:
        csv = f.read()
    x, y = parse_csv(csv)
    x_train, x_test, y_train, y_test = split(x, y, a.seed)
    if a.cmd == "payloads":  # a load generator's copy of the bodies, without a model
        payloads = write_payloads(x_test, a.payloads, a.payload_dir)
        if payloads is None:
            return 2
        print(json.dumps({"payloads": payloads}))
        return 0
    t = time.monotonic()
    model = fit(x_train, y_train, a.trees, a.seed)
    train_s = time.monotonic() - t
    info = {
        "trees": a.trees,
        "seed": a.seed,
        "features": int(x.shape[1]),
        "trainRows": int(x_train.shape[0]),
        "testRows": int(x_test.shape[0]),
        "accuracy": float(model.score(x_test, y_test)),
        "dataSha256": hashlib.sha256(csv).hexdigest(),
        "sklearn": sklearn.__version__,
        "trainS": train_s,
    }
    with open(a.model, "wb") as f:
        pickle.dump({"model": model, "info": info}, f)
    payloads = write_payloads(x_test, a.payloads, a.payload_dir)
    if payloads is None:
        return 2
    print(json.dumps({**info, "payloads": payloads}))
    return 0


class BadRequest(Exception):
    pass


def parse_instances(body: bytes, features: int):
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(f"body is not JSON: {e}")
    rows = doc.get("instances") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not rows:
        raise BadRequest('expected {"instances": [[...], ...]} with at least one row')
    # numpy checks a well-formed body fast (a 128 KB one in about a millisecond); only a bad
    # one is walked in Python, to name its first bad row.
    try:
        x = np.array(rows)
        if (x.ndim == 2 and x.shape[1] == features and x.dtype.kind in "if"
                and np.isfinite(x).all()):
            return x.astype(np.float64, copy=False)
    except ValueError:  # ragged rows
        pass
    for i, row in enumerate(rows):
        if (not isinstance(row, list) or len(row) != features or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in row)):
            raise BadRequest(f"row {i} must be a list of {features} finite numbers, got "
                             f"{json.dumps(row)[:80]}")
    raise BadRequest(f"rows must be lists of {features} finite numbers")


def handler_for(model, info, max_body: int):
    features = info["features"]
    health = json.dumps(info).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "meshbench-ml-serve"
        # Headers and body leave in one write, without waiting on Nagle's algorithm.
        disable_nagle_algorithm = True

        def log_message(self, format, *args):  # one line per request would be the bottleneck
            pass

        def reply(self, code: int, doc=None, raw: bytes | None = None, close=False):
            body = raw if raw is not None else json.dumps(doc).encode()
            head = (f"HTTP/1.1 {code} {self.responses.get(code, ('',))[0]}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                    + ("Connection: close\r\n" if close else "") + "\r\n").encode()
            self.wfile.write(head + body)
            if close:
                self.close_connection = True

        def do_GET(self):
            if self.path == "/healthz":
                self.reply(200, raw=health)
            elif self.path == "/predict":
                self.reply(405, {"error": "use POST /predict"})
            else:
                self.reply(404, {"error": f"no such path: {self.path}"})

        def do_POST(self):
            if self.path != "/predict":
                self.reply(404, {"error": f"no such path: {self.path}"}, close=True)
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.reply(411, {"error": "Content-Length required"}, close=True)
                return
            n = int(length)
            if n > max_body:
                # The body is not read: the connection cannot be reused.
                self.reply(413, {"error": f"body of {n} bytes is above {max_body}"}, close=True)
                return
            body = self.rfile.read(n)
            try:
                x = parse_instances(body, features)
            except BadRequest as e:
                self.reply(400, {"error": str(e)})
                return
            self.reply(200, {"predictions": model.predict(x).tolist()})

    return Handler


def serve(a) -> int:
    with open(a.model, "rb") as f:
        saved = pickle.load(f)
    model, info = saved["model"], saved["info"]
    # socketserver's listen backlog is 5: an open-loop generator opening connections at a burst
    # would see refused connects, the server's limit and not the mesh's.
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer((a.host, a.port), handler_for(model, info, a.max_body))
    server.daemon_threads = True
    print(json.dumps({"listening": f"{a.host}:{a.port}", **info}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def sizes(text: str) -> list[int]:
    out = [int(s) for s in text.split(",")]
    if any(s < 1 for s in out):
        raise argparse.ArgumentTypeError(f"payload sizes must be positive, got {text}")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--data", required=True)
    pp.add_argument("--trees", type=int, default=50)
    pp.add_argument("--seed", type=int, default=1)
    pp.add_argument("--model", required=True)
    pp.add_argument("--payload-dir", required=True)
    pp.add_argument("--payloads", type=sizes, default=[1024, 16384, 131072])
    pl = sub.add_parser("payloads")
    pl.add_argument("--data", required=True)
    pl.add_argument("--seed", type=int, default=1)
    pl.add_argument("--payload-dir", required=True)
    pl.add_argument("--payloads", type=sizes, default=[1024, 16384, 131072])
    ps = sub.add_parser("serve")
    ps.add_argument("--model", required=True)
    ps.add_argument("--host", default="127.0.0.1")
    ps.add_argument("--port", type=int, required=True)
    ps.add_argument("--max-body", type=int, default=1 << 20)
    a = p.parse_args()
    return serve(a) if a.cmd == "serve" else prepare(a)


if __name__ == "__main__":
    sys.exit(main())
