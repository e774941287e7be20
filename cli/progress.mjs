// What a push shows while it runs, on stderr: on a terminal one redrawn status line (blobs
// done, bytes, speed, the blobs in flight); otherwise plain lines, one per blob event and one
// per ~10% of a big blob, so CI logs stay readable.

const MiB = 1024 * 1024;

export function formatBytes(n) {
  if (n >= 1024 * MiB) return `${(n / 1024 / MiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export class Progress {
  constructor({ stream = process.stderr, quiet = false } = {}) {
    this.stream = stream;
    this.quiet = quiet;
    this.tty = Boolean(stream.isTTY) && !quiet;
    this.blobs = new Map(); // digest → {size, done, state, lastTenth}
    this.started = Date.now();
    this.timer = undefined;
    this.lineShown = false;
  }

  /** Plain message (a line of its own, above the status line on a terminal). */
  note(message) {
    if (this.quiet) return;
    if (this.tty) this.clearLine();
    this.stream.write(`${message}\n`);
    if (this.tty) this.render();
  }

  plan(descriptors) {
    for (const d of descriptors) this.blobs.set(d.digest, { size: d.size, done: 0, state: "waiting", lastTenth: 0 });
    this.started = Date.now();
    if (this.tty) this.timer = setInterval(() => this.render(), 250);
  }

  update(digest, done) {
    const blob = this.blobs.get(digest);
    if (!blob) return;
    blob.done = Math.min(done, blob.size);
    blob.state = "sending";
    const tenth = blob.size > 0 ? Math.floor((blob.done / blob.size) * 10) : 10;
    if (!this.tty && !this.quiet && blob.size >= 16 * MiB && tenth > blob.lastTenth && tenth < 10) {
      blob.lastTenth = tenth;
      this.stream.write(`${digest.slice(0, 19)}  ${formatBytes(blob.done)} / ${formatBytes(blob.size)}\n`);
    }
  }

  finish(digest, how) {
    const blob = this.blobs.get(digest);
    if (!blob) return;
    blob.done = blob.size;
    blob.state = how;
    const words = { exists: "already exists", mounted: "mounted", uploaded: "pushed" };
    this.note(`${digest.slice(0, 19)}  ${formatBytes(blob.size)}  ${words[how] ?? how}`);
  }

  clearLine() {
    if (this.lineShown) this.stream.write("\r\x1b[2K");
    this.lineShown = false;
  }

  render() {
    if (!this.tty || !this.timer) return;
    let total = 0;
    let done = 0;
    let finished = 0;
    const active = [];
    for (const [digest, blob] of this.blobs) {
      total += blob.size;
      done += blob.done;
      if (blob.state === "sending") active.push(`${digest.slice(7, 15)} ${blob.size ? Math.floor((blob.done / blob.size) * 100) : 100}%`);
      else if (blob.state !== "waiting") finished++;
    }
    const seconds = Math.max(0.001, (Date.now() - this.started) / 1000);
    const width = 24;
    const filled = total ? Math.round((done / total) * width) : width;
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const line = `[${bar}] ${formatBytes(done)}/${formatBytes(total)} ${formatBytes(done / seconds)}/s  blobs ${finished}/${this.blobs.size}  ${active.join(" ")}`;
    const columns = this.stream.columns || 100;
    this.stream.write(`\r\x1b[2K${line.slice(0, columns - 1)}`);
    this.lineShown = true;
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.clearLine();
  }
}
