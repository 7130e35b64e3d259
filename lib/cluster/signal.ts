/**
 * Cleanup of the cluster when the process is interrupted (SIGINT/SIGTERM).
 *
 * @module
 */

/**
 * Runs `cleanup` once on SIGINT/SIGTERM (Ctrl-C), then exits 130; returns a function that
 * removes the handlers. Cleanup errors are printed, never swallowed.
 */
export function cleanupOnSignal(cleanup: () => Promise<void>): () => void {
  let running = false;
  const handler = () => {
    if (running) return;
    running = true;
    console.error("meshbench: interrupted, cleaning up the cluster ...");
    cleanup().then(
      () => Deno.exit(130),
      (e) => {
        console.error(
          `meshbench: cleanup after interrupt failed: ${e instanceof Error ? e.message : e}`,
        );
        Deno.exit(1);
      },
    );
  };
  Deno.addSignalListener("SIGINT", handler);
  Deno.addSignalListener("SIGTERM", handler);
  return () => {
    Deno.removeSignalListener("SIGINT", handler);
    Deno.removeSignalListener("SIGTERM", handler);
  };
}
