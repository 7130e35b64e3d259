/** The toy workload's server: answers "ok" on 127.0.0.1:PORT and says when it listens. */
const port = Number(Deno.args[0]);
Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: () => console.log(`toy server listening on ${port}`),
}, () => new Response("ok"));
