"""Where a chaos run's time went: worker spawns and kills, pool children, and every lease.

``Timeline.sample`` is called from the run's polling loop and notes which pool children
each worker process has (a lease names the child's pid); ``Timeline.report`` reads the
attempt rows afterwards: a lease's ``success`` rows say when it was claimed and
recorded, its ``abandoned`` rows (written by whoever took it over) when it was taken
over. Times are seconds after the contracts' end, all on this machine's clock.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path


class Timeline:
    def __init__(self) -> None:
        self.children: dict[int, tuple[int, float]] = {}  # child pid -> (worker pid, seen)

    def sample(self, workers) -> None:
        now = time.time()
        for pid in workers.pids():
            try:
                text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
            except OSError:
                continue
            for child in text.split():
                self.children.setdefault(int(child), (pid, now))

    def report(self, workers, ends_at: datetime, system: str = "chaos-pg") -> list[str]:
        from django.db import connection

        zero = ends_at.timestamp()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT a.worker, a.outcome, count(*), min(a.started_at), max(a.finished_at) "
                "FROM revocation_revocationattempt a JOIN access_system s ON s.id = a.system_id "
                "WHERE s.name = %s GROUP BY 1, 2 ORDER BY 4",
                [system],
            )
            rows = cursor.fetchall()
        leases: dict[str, dict] = {}
        for lease, outcome, n, started, finished in rows:
            entry = leases.setdefault(lease, {"claimed": started.timestamp() - zero, "n": 0})
            entry["n"] += n
            entry["claimed"] = min(entry["claimed"], started.timestamp() - zero)
            entry[outcome] = finished.timestamp() - zero
        spawns = {pid: t - zero for _, pid, t in workers.spawned}
        kills = {pid: t - zero for _, pid, t in workers.killed}
        lines = []
        takeovers, boots = [], []
        first_claim: dict[int, float] = {}
        for lease, entry in sorted(leases.items(), key=lambda item: item[1]["claimed"]):
            pid = int(lease.split("/")[0].rpartition(":")[2])
            main, _ = self.children.get(pid, (0, 0.0))
            first_claim[main] = min(first_claim.get(main, 1e9), entry["claimed"])
            what = " ".join(
                f"{outcome} +{at:.1f}"
                for outcome, at in entry.items()
                if outcome not in ("claimed", "n")
            )
            note = ""
            if "abandoned" in entry and main in kills:
                gap = entry["abandoned"] - kills[main]
                takeovers.append(gap)
                note = f" (worker {main} killed +{kills[main]:.1f}: taken over {gap:.1f} s later)"
            lines.append(
                f"  +{entry['claimed']:5.1f} claim {entry['n']:4d} by {pid} of worker {main}: "
                f"{what}{note}"
            )
        for main, spawned in spawns.items():
            if main in first_claim and spawned > 0:  # restarted during the run
                boots.append(first_claim[main] - spawned)
        events = sorted(
            [(t, f"worker {pid} spawned") for pid, t in spawns.items()]
            + [(t, f"worker {pid} SIGKILLed") for pid, t in kills.items()]
        )
        lines = ["  " + " | ".join(f"+{t:.1f} {what}" for t, what in events)] + lines
        if takeovers:
            lines.append(
                f"  kill -> takeover: median {statistics.median(takeovers):.1f} s, "
                f"max {max(takeovers):.1f} s over {len(takeovers)} lease(s)"
            )
        if boots:
            lines.append(
                f"  spawn -> first claim: median {statistics.median(boots):.1f} s, "
                f"max {max(boots):.1f} s over {len(boots)} worker(s)"
            )
        return lines
