"""A stand-in for KEDA in tests: it polls devassist's `GET /status/queue` the way KEDA's
`metrics-api` trigger does and runs one `fake_backend.py` on a fixed port while the backend's
`demand` is above zero, stopping it `--cooldown` seconds after the demand fell to zero (KEDA's
`cooldownPeriod`). devassist never starts or stops the backend itself.

    fake_scaler.py --gateway URL --backend NAME --port N [--cooldown S] [--interval S]
                   [--delay S] [--events FILE]

`--delay` is the backend's load time; `--events` is passed on to the backend (start, ready and
stop lines). SIGTERM stops the backend and the scaler.
"""

import argparse
import json
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

FAKE = pathlib.Path(__file__).with_name("fake_backend.py")


def demand(gateway: str, backend: str) -> int:
    with urllib.request.urlopen(f"{gateway}/status/queue", timeout=5) as r:
        return int(json.load(r)["backends"][backend]["demand"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gateway", required=True)
    p.add_argument("--backend", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cooldown", type=float, default=1.0)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--events")
    a = p.parse_args()
    proc = None
    idle_since = None

    def stop(*_):
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            d = demand(a.gateway, a.backend)
        except OSError:
            d = None  # the gateway is not answering: change nothing, like KEDA
        if d:
            idle_since = None
            if proc is None or proc.poll() is not None:
                # A restarted pod gets a fresh network namespace; here the old backend's
                # connections linger in TIME_WAIT on the same port, so the new one binds
                # with SO_REUSEADDR, as real servers do.
                boot = (
                    f"import sys; sys.path.insert(0, {str(FAKE.parent)!r}); import fake_backend; "
                    "fake_backend.Server.allow_reuse_address = True; fake_backend.main()"
                )
                args = [sys.executable, "-c", boot, "--port", str(a.port), "--delay", str(a.delay)]
                if a.events:
                    args += ["--events", a.events]
                proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        elif d == 0 and proc is not None and proc.poll() is None:
            idle_since = idle_since or time.time()
            if time.time() - idle_since >= a.cooldown:
                proc.terminate()
                proc.wait(10)
                proc = None
                idle_since = None
        time.sleep(a.interval)


if __name__ == "__main__":
    main()
