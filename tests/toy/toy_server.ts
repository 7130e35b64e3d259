/**
 * The toy workload's server: answers "ok" on HOST:PORT (127.0.0.1 unless a host is given, as
 * in its pod) and says when it listens.
 */
const port = Number(Deno.args[0]);
const hostname = Deno.args[1] ?? "127.0.0.1";
Deno.serve({
  hostname,
  port,
  onListen: () => console.log(`toy server listening on ${hostname}:${port}`),
}, () => new Response("ok"));
