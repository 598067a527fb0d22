"""``python -m reconciler.emulator``: serve the emulator until interrupted.

Prints the URL on the first line of stdout (so scripts can read it) and, with
``--kubeconfig``, writes a kubeconfig pointing at it for kubectl or the reconciler.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ruamel.yaml import YAML

from reconciler.emulator.server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.emulator",
        description="Serve a Kubernetes API emulator on loopback until interrupted.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig here")
    parser.add_argument("--namespace", help="default namespace of the kubeconfig context")
    parser.add_argument("--token", help="require this bearer token")
    parser.add_argument("--history", type=int, default=1000,
                        help="watch events kept for resuming (older ones get 410)")
    parser.add_argument("--load", type=Path, action="append", default=[],
                        help="a JSON file with an object or a list of objects to create")
    parser.add_argument("--crd", type=Path, action="append", default=[],
                        help="a CustomResourceDefinition (YAML or JSON) whose schema every "
                             "write of its kind must satisfy, as on a real API server")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(message)s")

    server = Emulator(host=args.host, port=args.port, token=args.token,
                      history_limit=args.history)
    for path in args.crd:
        for doc in YAML(typ="safe", pure=True).load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict):
                server.enforce(doc)
    for path in args.load:
        data = json.loads(path.read_text(encoding="utf-8"))
        for obj in data if isinstance(data, list) else [data]:
            server.apply(obj)
    server.start()
    print(server.url, flush=True)
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig, namespace=args.namespace)
        print(f"kubeconfig written to {args.kubeconfig}", file=sys.stderr, flush=True)

    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
