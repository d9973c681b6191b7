// Last-resort cleanup: child processes the harness started are SIGKILLed when this process exits without
// having stopped them (an uncaught exception, process.exit() in a test). Not reached on SIGKILL of the parent.
const live = new Set<number>();
let installed = false;

export function trackChild(pid: number | undefined): void {
  if (!pid) return;
  live.add(pid);
  if (installed) return;
  installed = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export function untrackChild(pid: number | undefined): void {
  if (pid) live.delete(pid);
}
