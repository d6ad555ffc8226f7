"""Progress of a run: a live bar on a terminal, one plain line per cell otherwise (CI, logs)."""

from __future__ import annotations

import sys
import time
from typing import IO, Any


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def cell_line(record: Any) -> str:
    head = (f"{record['status']:<7} {record['detector']} on {record['dataset']} "
            f"({record['protocol']}, seed {record['seed']})")
    if record["status"] == "ok":
        return (f"{head}  auroc {record['auroc']:.3f}  fit {record['fit_s']:.2f}s  "
                f"score {record['score_s']:.2f}s")
    return f"{head}  {record.get('error')}"


class Progress:
    """Counts finished cells; shows done/total, failures so far and the ETA.

    On a terminal a tqdm bar stays at the bottom and failed cells are printed above it; on
    anything else each cell is one line ending with the failures so far and the ETA.
    ``quiet`` shows nothing.
    """

    def __init__(self, total: int, *, quiet: bool = False, stream: IO[str] | None = None,
                 tty: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.started = time.monotonic()
        self.bar: Any = None
        if self.tty and not quiet and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="cell", file=self.stream, dynamic_ncols=True,
                            smoothing=0.05, desc="cells", postfix="0 failed")

    def eta(self) -> float | None:
        if not self.done or self.done >= self.total:
            return None
        return (time.monotonic() - self.started) / self.done * (self.total - self.done)

    def update(self, record: Any) -> None:
        self.done += 1
        if record["status"] != "ok":
            self.failed += 1
        if self.quiet:
            return
        if self.bar is not None:
            if record["status"] != "ok":
                self.bar.write(cell_line(record), file=self.stream)
            self.bar.set_postfix_str(f"{self.failed} failed", refresh=False)
            self.bar.update(1)
            return
        eta = self.eta()
        tail = f"  [{self.failed} failed" + (f", eta {_duration(eta)}]" if eta is not None else "]")
        print(f"[{self.done}/{self.total}] {cell_line(record)}{tail}", file=self.stream,
              flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
