/**
 * The few libc calls meshbench's HTTP load client makes through Deno's FFI (Linux, glibc):
 * TCP sockets it writes from its pacing thread at the due time (no hop to an event loop) and
 * reads with `poll` from another, and the thread's timer slack. Each thread opens its own
 * handle ({@linkcode openLibc}); file descriptors are the process's, so both threads use them.
 *
 * @module
 */

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  sched_setscheduler: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  getrusage: { parameters: ["i32", "buffer"], result: "i32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The opened library. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Opens libc for this thread. */
export function openLibc(): Libc {
  return Deno.dlopen("libc.so.6", SYMBOLS).symbols;
}

export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const SOCK_CLOEXEC = 0o2000000;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const SOL_SOCKET = 1;
export const SO_ERROR = 4;
export const SO_SNDTIMEO = 21;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const PR_SET_TIMERSLACK = 29;
export const SCHED_FIFO = 1;
export const RUSAGE_THREAD = 1;
/** Byte offset of `ru_nvcsw` (voluntary context switches) in `struct rusage` (x86-64). */
export const RU_NVCSW_OFFSET = 128;
/** Byte offset of `ru_nivcsw` (involuntary context switches) in `struct rusage` (x86-64). */
export const RU_NIVCSW_OFFSET = 136;
export const EINTR = 4;
export const EAGAIN = 11;
export const EINPROGRESS = 115;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  24: "EMFILE",
  32: "EPIPE",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  115: "EINPROGRESS",
};

/** The symbolic name of an errno value (`E<number>` when not listed). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** The calling thread's errno, read right after a failed call. */
export function errno(libc: Libc): number {
  const p = libc.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

/** `struct sockaddr_in` for an IPv4 address and port. */
export function sockaddrIn(ip: string, port: number): Uint8Array {
  const parts = ip.split(".").map(Number);
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint16(0, AF_INET, true);
  new DataView(b.buffer).setUint16(2, port, false);
  b.set(parts, 4);
  return b;
}

/**
 * Opens a TCP connection (TCP_NODELAY, blocking, sends bounded by `sendTimeoutMs`), waiting at
 * most `timeoutMs` for it to be established. Returns the fd, or the errno name of the failure
 * (`ETIMEDOUT` when the wait ran out).
 */
export function tcpConnect(
  libc: Libc,
  addr: Uint8Array,
  timeoutMs: number,
  sendTimeoutMs: number,
): number | string {
  const fd = libc.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errnoName(errno(libc));
  const fail = (name: string) => {
    libc.close(fd);
    return name;
  };
  const flags = libc.fcntl(fd, F_GETFL, 0);
  libc.fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (libc.connect(fd, addr, 16) !== 0) {
    const e = errno(libc);
    if (e !== EINPROGRESS) return fail(errnoName(e));
    const pfd = new Int32Array(2);
    pfd[0] = fd;
    new Int16Array(pfd.buffer)[2] = POLLOUT;
    const n = libc.poll(new Uint8Array(pfd.buffer), 1n, Math.max(1, Math.ceil(timeoutMs)));
    if (n === 0) return fail("ETIMEDOUT");
    const err = new Int32Array(1);
    const len = new Uint32Array([4]);
    libc.getsockopt(
      fd,
      SOL_SOCKET,
      SO_ERROR,
      new Uint8Array(err.buffer),
      new Uint8Array(len.buffer),
    );
    if (n < 0 || err[0] !== 0) return fail(errnoName(n < 0 ? errno(libc) : err[0]));
  }
  libc.fcntl(fd, F_SETFL, flags);
  libc.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, new Uint8Array(new Int32Array([1]).buffer), 4);
  // struct timeval { tv_sec, tv_usec } (64-bit longs).
  const tv = new BigInt64Array([
    BigInt(Math.floor(sendTimeoutMs / 1000)),
    BigInt(Math.round((sendTimeoutMs % 1000) * 1000)),
  ]);
  libc.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, new Uint8Array(tv.buffer), 16);
  return fd;
}
