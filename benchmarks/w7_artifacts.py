"""W7: one large artifact up and down through the tracking server's artifact proxy.

python -m benchmarks.w7_artifacts --impl cairn|mlflow [--quick] [--mib N]
"""

from __future__ import annotations

import os
import resource
import time

from benchmarks.common import Results, Server, import_impl, parse_args, scratch_dir, size

QUICK = {"cairn": 32, "mlflow": 32}
FULL = {"cairn": 200, "mlflow": 200}


def main() -> None:
    args = parse_args(__doc__, mib=0)
    mib = size(args, "mib", QUICK, FULL)
    mlflow = import_impl(args.impl)
    results = Results("W7", args.impl)
    with scratch_dir() as directory:
        source = directory / "upload" / "weights.bin"
        source.parent.mkdir()
        with open(source, "wb") as handle:
            for _ in range(mib):
                handle.write(os.urandom(2**20))
        with Server(
            args.impl, f"sqlite:///{directory / 'server.db'}", directory / "served"
        ) as server:
            # Also the global URI: Cairn's client (so far) resolves mlflow-artifacts:/ URIs
            # against it rather than the client's own tracking URI.
            mlflow.set_tracking_uri(server.url)
            client = mlflow.MlflowClient(server.url)
            run_id = client.create_run(client.create_experiment("w7")).info.run_id
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            client.log_artifact(run_id, str(source))
            up = time.perf_counter() - t0
            target = directory / "download"
            target.mkdir()
            t0 = time.perf_counter()
            local = client.download_artifacts(run_id, "weights.bin", str(target))
            down = time.perf_counter() - t0
            assert os.path.getsize(local) == mib * 2**20
            client_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
            server_peak = server.peak_rss / 2**20
    mb = mib * 2**20 / 1e6
    label = f"{mib} MiB file"
    results.add("artifact upload through the proxy", mb / up, "MB/s", target_ratio=2.0, size=label)
    results.add(
        "artifact download through the proxy", mb / down, "MB/s", target_ratio=2.0, size=label
    )
    results.add(
        "client peak memory growth", client_growth, "MiB", higher_is_better=False, size=label
    )
    results.add(
        "server peak memory (process tree)", server_peak, "MiB", higher_is_better=False, size=label
    )
    results.emit()


if __name__ == "__main__":
    main()
