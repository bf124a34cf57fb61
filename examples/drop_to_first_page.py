#!/usr/bin/env python3
"""How long from a plugin landing in a running `weir serve`'s plugins folder
to its first committed page, with the compiled-code cache cold and warm.

    python3 examples/drop_to_first_page.py target/release/weir \
        target/wasm32-wasip2/release/synthetic.wasm [runs]

Each run starts `weir serve` on a fresh SQLite file and an empty plugins
folder, waits for /healthz, then renames the plugin into the folder (written
to a dot file more than the debounce window earlier, as the README advises, so
the debounce does not wait) and polls the provider status every 2 ms until
the source has entities. "cold" empties the cache first; "warm" reuses it.
A second figure, "fresh copy", copies the file in directly (the debounce
window of 500 ms applies).
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except Exception:
        return None


def run(weir, wasm, cache, mode):
    with tempfile.TemporaryDirectory() as dir:
        plugins = os.path.join(dir, "plugins")
        os.mkdir(plugins)
        with open(os.path.join(dir, "weir.toml"), "w") as config:
            config.write('[sources.synthetic.config]\ncount = 1000\npage-size = 100\n')
        port = free_port()
        log = open(os.path.join(dir, "serve.log"), "w")
        serve = subprocess.Popen(
            [weir, "serve", "--config", os.path.join(dir, "weir.toml"),
             "--database", "sqlite://" + os.path.join(dir, "weir.db"),
             "--plugins", plugins, "--listen", f"127.0.0.1:{port}",
             "--cache-dir", cache],
            stdout=subprocess.DEVNULL, stderr=log, cwd=dir)
        try:
            base = f"http://127.0.0.1:{port}"
            while get(base + "/healthz") is None:
                time.sleep(0.01)
            if mode == "rename":
                staged = os.path.join(plugins, ".synthetic.wasm.tmp")
                shutil.copyfile(wasm, staged)
                time.sleep(0.7)
                started = time.monotonic()
                os.rename(staged, os.path.join(plugins, "synthetic.wasm"))
            else:
                started = time.monotonic()
                shutil.copyfile(wasm, os.path.join(plugins, "synthetic.wasm"))
            status_url = base + "/api/catalog/incremental/providers/synthetic"
            while True:
                status = get(status_url)
                if status and status.get("entities", 0) > 0:
                    return time.monotonic() - started
                if time.monotonic() - started > 120:
                    raise SystemExit(open(os.path.join(dir, "serve.log")).read())
                time.sleep(0.002)
        finally:
            serve.terminate()
            serve.wait()


def main():
    weir, wasm = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    cache = tempfile.mkdtemp(prefix="weir-drop-bench-cache-")
    cold, warm, fresh = [], [], []
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        cold.append(run(weir, wasm, cache, "rename"))
        warm.append(run(weir, wasm, cache, "rename"))
        fresh.append(run(weir, wasm, cache, "copy"))
    shutil.rmtree(cache, ignore_errors=True)
    for name, times in [("cold cache", cold), ("warm cache", warm),
                        ("warm cache, fresh copy (debounce 500 ms)", fresh)]:
        ms = sorted(t * 1000 for t in times)
        print(f"{name}: median {statistics.median(ms):.0f} ms "
              f"(min {ms[0]:.0f}, max {ms[-1]:.0f}, {len(ms)} runs)")


if __name__ == "__main__":
    main()
