/**
 * The worker of `SummaryBuilder.finishInParallel`: computes the load points it is sent
 * (their groups' stats and overheads) and posts them back, each group's histogram packed.
 *
 * @module
 */
import { computePointPacked, type PointSettings, type PointWork } from "./summary.ts";

/** The worker's global scope (the project's type checking sees the window's). */
const scope = self as unknown as {
  onmessage: (e: MessageEvent<{ points: PointWork[]; options: PointSettings }>) => void;
  postMessage: (message: unknown) => void;
};

scope.onmessage = (e: MessageEvent<{ points: PointWork[]; options: PointSettings }>) => {
  try {
    const { points, options } = e.data;
    scope.postMessage({ results: points.map((p) => computePointPacked(p, options)) });
  } catch (err) {
    scope.postMessage({ error: (err as Error).stack ?? String(err) });
  }
};
