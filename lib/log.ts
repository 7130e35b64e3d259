/**
 * Console progress for long work: timestamped lines on stderr; on a TTY the
 * progress line redraws in place, elsewhere one line per step.
 *
 * @module
 */
import type { Logger } from "./target.ts";

/** A logger that writes to stderr. `quiet` keeps warnings only. */
export function consoleLogger(options: { quiet?: boolean } = {}): Logger {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let progressShown = false;
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  const stamp = () => new Date().toISOString().slice(11, 19);
  const line = (s: string) => {
    if (progressShown) {
      write("\r\x1b[2K");
      progressShown = false;
    }
    write(`${s}\n`);
  };
  return {
    info(message) {
      if (!options.quiet) line(`[${stamp()}] ${message}`);
    },
    warn(message) {
      line(`[${stamp()}] WARN ${message}`);
    },
    progress(label, done, total) {
      if (options.quiet) return;
      const pct = total > 0 ? Math.round((done / total) * 100) : 0;
      const width = 24;
      const fill = Math.round((pct / 100) * width);
      const bar = `[${"#".repeat(fill)}${"-".repeat(width - fill)}] ${done}/${total} ${label}`;
      if (tty) {
        write(`\r\x1b[2K${bar}`);
        progressShown = true;
        if (done >= total) line("");
      } else {
        line(`[${stamp()}] ${bar}`);
      }
    },
  };
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(m),
    warn: (m) => lines.push(`WARN ${m}`),
    progress: (label, d, t) => lines.push(`${d}/${t} ${label}`),
  };
}
