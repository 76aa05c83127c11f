"""Helpers of the deploy tests: free loopback ports, bounded polling, stopping a child process,
and a throwaway Prometheus (Debian's `prometheus` on 127.0.0.1, scraping the given targets
every second, with its data in the test's scratch directory)."""

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import yaml


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(proc, grace_s=10):
    """SIGTERM, then SIGKILL if the process is still there after grace_s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def api(url, path, params):
    """The `data` of a Prometheus HTTP API answer; raises unless it says success."""
    with urllib.request.urlopen(f"{url}{path}?{urllib.parse.urlencode(params, doseq=True)}",
                                timeout=10) as response:
        body = json.load(response)
    if body["status"] != "success":
        raise RuntimeError(f"{path} {params}: {body}")
    return body["data"]


def poll(what, deadline, probe, every=0.25):
    """Calls probe() until it returns something truthy, and returns that; bounded by deadline."""
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


class LocalPrometheus:
    name = "prometheus"

    def __init__(self, work, targets, credentials_file=None, ca_file=None, server_name=None):
        """With credentials_file, scrapes present its content as a Bearer token (what a
        coordinator with --metrics-token-file asks for); with ca_file, they are made over
        HTTPS, checking the certificate against that authority for server_name (what a
        coordinator with --metrics-tls-cert asks for)."""
        self.url = f"http://127.0.0.1:{free_port()}"
        config = work / "prometheus.yml"
        job = {"job_name": "pathnet", "static_configs": [{"targets": targets}]}
        if credentials_file:
            job["authorization"] = {"type": "Bearer", "credentials_file": str(credentials_file)}
        if ca_file:
            job["scheme"] = "https"
            job["tls_config"] = {"ca_file": str(ca_file)}
            if server_name:
                job["tls_config"]["server_name"] = server_name
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [job],
        }))
        self.log_path = work / "prometheus.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([
            shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={config}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address={self.url.removeprefix('http://')}",
        ], stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, deadline):
        def ready():
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False
        poll("Prometheus to be ready", deadline, ready)

    def query(self, expr):
        """[(labels, value)] of an instant query; [] while Prometheus cannot be reached."""
        try:
            result = api(self.url, "/api/v1/query", {"query": expr})["result"]
        except OSError:
            return []
        return [(r["metric"], float(r["value"][1])) for r in result]

    def value(self, expr):
        """The value of a one-series expression, None when it has no or several series."""
        result = self.query(expr)
        return result[0][1] if len(result) == 1 else None

    def range(self, expr, start):
        """The values of a one-series expression, once a second from start (Unix time) on."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{time.time():.3f}", "step": "1"}
        (series,) = api(self.url, "/api/v1/query_range", params)["result"]
        return [float(v) for _, v in series["values"]]

    def stop(self):
        terminate(self.proc)
        self.log.close()
