/*
 * The machine's own pacing floor, without V8 (`deno task bench:send-lag`'s `C floor`
 * candidates): the HTTP client's pacing loop (lib/tools/_pacer.ts) written in C. For each due
 * time (`start + k / rate`) it sleeps with clock_nanosleep (absolute, CLOCK_MONOTONIC, 1 ns
 * timer slack) until `spin` microseconds before it, then spins on clock_gettime to the due
 * time, and records how late the spin ended. Nothing is sent, nothing is allocated, no runtime
 * runs beside it: what is late here is the machine's (its interrupts, scheduler, hypervisor and
 * other load). A send more than 10 us late is counted by cause as the client counts it
 * (`LateCause` in lib/tools/_http_shared.ts): behind, wokeLate, preempted, blocked, stalled,
 * from the thread's context switches (getrusage(RUSAGE_THREAD)).
 *
 * The schedule starts about 20 ms after the program does, at the phase the client picks
 * (lib/tools/_tick_phase.ts: every due time furthest from a whole millisecond of
 * CLOCK_MONOTONIC, where the kernel's tick falls) when `align` is `tick` (the default), at
 * whatever phase that is when it is `none`, or, when it is a number n, with the first due time
 * n microseconds after a multiple of 20 ms (a tick point for HZ 100, 250 and 1000 alike; e.g.
 * 20: at 500/s on HZ 250, a tick 20 us before every other due time).
 *
 * Usage: `_pacer_floor <rate> <count> <spin_us> [fifo_priority [align]]` (fifo_priority 0:
 * normal scheduling); prints one JSON object:
 * `{"lagNs": [lag of each due time, ns], "late": {"thresholdUs": 10, ...causes},
 * "timerSlackNs": 1, "tickDistanceUs": <the nearest a due time came to a whole millisecond>}`.
 * Exit 2 on bad arguments, 1 when SCHED_FIFO is refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#define LATE_NS 10000LL

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* How far a CLOCK_MONOTONIC time (ns) is from the nearest whole millisecond (ns). */
static long long tick_distance(long long t) {
  long long f = t % 1000000LL;
  return f < 1000000LL - f ? f : 1000000LL - f;
}

/*
 * The start at or after `earliest` (within a millisecond) whose first min(count, 4000) due
 * times keep furthest from whole milliseconds, as tickSafeStart in lib/tools/_tick_phase.ts.
 */
static long long tick_safe_start(long long earliest, long long interval, int count,
                                 long long *distance) {
  int n = count < 4000 ? count : 4000;
  long long best = earliest, best_d = -1;
  for (int p = 0; p < 64; p++) {
    long long start = earliest + p * 1000000LL / 64, nearest = 1000000LL;
    for (int k = 0; k < n && nearest > best_d; k++) {
      long long d = tick_distance(start + k * interval);
      if (d < nearest) nearest = d;
    }
    if (nearest > best_d) {
      best_d = nearest;
      best = start;
    }
  }
  *distance = best_d;
  return best;
}

static void switches(long *vol, long *invol) {
  struct rusage r;
  getrusage(RUSAGE_THREAD, &r);
  *vol = r.ru_nvcsw;
  *invol = r.ru_nivcsw;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 6) {
    fprintf(stderr, "usage: %s <rate> <count> <spin_us> [fifo_priority [tick|none|<us>]]\n",
            argv[0]);
    return 2;
  }
  int rate = atoi(argv[1]), count = atoi(argv[2]), spin_us = atoi(argv[3]);
  int fifo = argc >= 5 ? atoi(argv[4]) : 0;
  const char *align = argc == 6 ? argv[5] : "tick";
  char *end = NULL;
  long phase_us = strtol(align, &end, 10);
  int fixed_phase = *align != '\0' && *end == '\0';
  if (rate <= 0 || count <= 0 || spin_us < 0 || fifo < 0 || fifo > 99 ||
      (!fixed_phase && strcmp(align, "tick") != 0 && strcmp(align, "none") != 0) ||
      (fixed_phase && (phase_us < 0 || phase_us >= 1000))) {
    fprintf(stderr,
            "%s: rate and count must be positive, spin_us 0 or more, fifo 0-99, align tick, "
            "none or 0-999 (us), got %s %s %s %d %s\n",
            argv[0], argv[1], argv[2], argv[3], fifo, align);
    return 2;
  }
  int slack = prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == 0;
  if (fifo > 0) {
    struct sched_param p = {.sched_priority = fifo};
    if (sched_setscheduler(0, SCHED_FIFO, &p) != 0) {
      fprintf(stderr, "SCHED_FIFO %d refused: %s\n", fifo, strerror(errno));
      return 1;
    }
  }
  long long *lag = malloc(sizeof(long long) * (size_t)count);
  if (lag == NULL) return 1;
  long long behind = 0, woke_late = 0, preempted = 0, blocked = 0, stalled = 0;
  long long interval = 1000000000LL / rate, spin = spin_us * 1000LL;
  long long start = now_ns() + 20000000LL, distance = -1;
  if (fixed_phase) {
    /* From a multiple of 20 ms: a tick point for HZ 100, 250 and 1000 alike. */
    start = start - start % 20000000LL + 20000000LL + phase_us * 1000LL;
    distance = tick_distance(start);
  } else if (strcmp(align, "tick") == 0) {
    start = tick_safe_start(start, interval, count, &distance);
  }
  for (int k = 0; k < count; k++) {
    long long due = start + k * interval;
    long long top = now_ns();
    long long wake = due - spin;
    if (wake > top) {
      struct timespec ts = {wake / 1000000000LL, wake % 1000000000LL};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    }
    long long woke = now_ns();
    long v0, i0, v1, i1;
    switches(&v0, &i0);
    long long t = now_ns();
    while (t < due) t = now_ns();
    lag[k] = t - due;
    if (lag[k] <= LATE_NS) continue;
    switches(&v1, &i1);
    if (top > due) behind++;
    else if (woke > due) woke_late++;
    else if (v1 != v0) blocked++;
    else if (i1 != i0) preempted++;
    else stalled++;
  }
  printf("{\"lagNs\":[");
  for (int k = 0; k < count; k++) printf(k ? ",%lld" : "%lld", lag[k]);
  printf("],\"late\":{\"thresholdUs\":%lld,\"behind\":%lld,\"wokeLate\":%lld,\"preempted\":%lld,"
         "\"blocked\":%lld,\"stalled\":%lld},\"timerSlackNs\":%s",
         LATE_NS / 1000, behind, woke_late, preempted, blocked, stalled, slack ? "1" : "null");
  if (distance >= 0) printf(",\"tickDistanceUs\":%lld}\n", distance / 1000);
  else printf(",\"tickDistanceUs\":null}\n");
  free(lag);
  return 0;
}
