/**
 * A clock the test moves: `now()` is what the code under test reads, `after(ms)` a signal that aborts
 * once `advance` has moved the clock that far (src/credentials/types.ts `Clock`). Nothing sleeps.
 */
export class FakeClock {
  private readonly timers: { at: number; controller: AbortController }[] = [];

  constructor(private t: number = Date.UTC(2026, 11, 1, 9, 0, 0)) {}

  now = (): number => this.t;

  after = (ms: number): AbortSignal => {
    const controller = new AbortController();
    this.timers.push({ at: this.t + ms, controller });
    return controller.signal;
  };

  /** Moves the clock on and aborts every signal whose deadline it reached. */
  advance(ms: number): void {
    this.t += ms;
    for (const timer of this.timers)
      if (timer.at <= this.t && !timer.controller.signal.aborted)
        timer.controller.abort(new DOMException("deadline", "TimeoutError"));
  }
}
