"""The Grafana dashboard, loaded and run for real.

Loads deploy/grafana/pathnet-cluster.json with grafana-foundation-sdk: every field must be
one the SDK's dashboard model knows (nothing is dropped on the way in), every panel of a
known type, every query a Prometheus query. Then starts on 127.0.0.1 two coordinators with
an agent each, a PathNet experiment (the Kubernetes base's experiment.toml) and an A3C one
(examples/a3c_cartpole.toml), and Prometheus scraping both every second, and requires every
variable and every panel query to return data, and every metric the alerts name to exist.
The local overlay's experiment.toml must start too. Everything is stopped at the end.

    deploy/tests/dashboard_test.py [--pathnet BIN]   # BIN default target/debug/pathnet
    deploy/tests/dashboard_test.py --prometheus URL  # only the queries, against that Prometheus

Run it with the venv of deploy/tests/setup-venv; it needs `prometheus` (Debian package).
"""

import argparse
import json
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel
from harness import LocalPrometheus, api, terminate

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/pathnet-cluster.json"
RULES = ROOT / "deploy/kubernetes/base/prometheusrule.yaml"
BASE_SPEC = ROOT / "deploy/kubernetes/base/experiment.toml"
LOCAL_SPEC = ROOT / "deploy/kubernetes/overlays/local/experiment.toml"
A3C_SPEC = ROOT / "examples/a3c_cartpole.toml"
# What Grafana puts in for the dashboard's variables and macros: every coordinator and
# experiment, and a rate window of several one-second scrapes.
SUBSTITUTIONS = {"$instance": ".+", "$experiment": ".+", "$__rate_interval": "10s"}
DEADLINE_S = 120


def dropped_fields(original, loaded, path=""):
    """Paths present in the file but missing after a round trip through the SDK's model."""
    if isinstance(original, dict) and isinstance(loaded, dict):
        missing = []
        for key, value in original.items():
            if key not in loaded:
                missing.append(f"{path}/{key}")
            else:
                missing += dropped_fields(value, loaded[key], f"{path}/{key}")
        return missing
    if isinstance(original, list) and isinstance(loaded, list):
        if len(original) != len(loaded):
            return [f"{path} (length)"]
        return [m for i, (a, b) in enumerate(zip(original, loaded)) for m in dropped_fields(a, b, f"{path}[{i}]")]
    return [] if original == loaded else [f"{path} (value)"]


def load_dashboard():
    """(variables, queries): label_values() variables and (panel, refId, expr) of every target."""
    register_default_plugins()
    data = json.loads(DASHBOARD.read_text())
    dashboard = Dashboard.from_json(data)
    dropped = dropped_fields(data, json.loads(json.dumps(dashboard, cls=JSONEncoder)))
    assert not dropped, f"fields the SDK's model does not know: {dropped}"

    queries = []
    for panel in dashboard.panels:
        if isinstance(panel, RowPanel):
            continue
        assert isinstance(panel, Panel), panel
        assert not isinstance(panel.options, dict), f"{panel.title}: unknown panel type {panel.type_val}"
        assert panel.datasource.type_val == "prometheus", panel.title
        assert panel.targets, f"{panel.title}: no queries"
        for target in panel.targets:
            assert not isinstance(target, UnknownDataquery), f"{panel.title}: not a Prometheus query"
            assert isinstance(target, prometheus.Dataquery), panel.title
            queries.append((panel.title, target.ref_id, target.expr))

    variables = []
    for variable in dashboard.templating.list_val:
        if variable.type_val != "query":
            continue
        query = variable.query["query"] if isinstance(variable.query, dict) else variable.query
        variables.append((variable.name, query))
    return variables, queries


def substitute(expr):
    for name, value in SUBSTITUTIONS.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def variable_values(prometheus_url, query):
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
    assert match, f"only label_values(metric, label) variables are supported: {query}"
    series, label = match.groups()
    return api(prometheus_url, f"/api/v1/label/{label}/values", {"match[]": substitute(series)})


def check_queries(prometheus_url, variables, queries, deadline):
    """Polls until every variable and query returns data; returns the failures at the deadline."""
    pending = {f"variable ${name}": ("variable", query) for name, query in variables}
    pending.update({f"{title} [{ref}]": ("query", expr) for title, ref, expr in queries})
    answers = {}
    while True:
        for name, (kind, expr) in list(pending.items()):
            if kind == "variable":
                found = variable_values(prometheus_url, expr)
            else:
                result = api(prometheus_url, "/api/v1/query", {"query": substitute(expr)})["result"]
                # Data means a number: a ratio of two idle rates (NaN) does not count.
                found = result if any(math.isfinite(float(r["value"][1])) for r in result) else []
            if found:
                answers[name] = len(found)
                del pending[name]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)  # polling Prometheus, bounded by the deadline
    for name, count in answers.items():
        print(f"ok    {name}: {count} series" if not name.startswith("variable") else f"ok    {name}: {count} values")
    for name, (_, expr) in pending.items():
        print(f"FAIL  {name}: no data for {substitute(expr)}")
    return answers, pending


def check_alert_metrics(prometheus_url):
    names = set(api(prometheus_url, "/api/v1/label/__name__/values", {}))
    rule = yaml.safe_load(RULES.read_text())
    used = {m for g in rule["spec"]["groups"] for r in g["rules"] for m in re.findall(r"\bpathnet_\w+", r["expr"])}
    missing = sorted(used - names)
    for metric in sorted(used - set(missing)):
        print(f"ok    alert metric {metric}")
    for metric in missing:
        print(f"FAIL  alert metric {metric}: not scraped")
    return len(used) - len(missing), missing


class Process:
    """A child process whose stdout lines can be awaited; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name, argv, log_dir):
        self.name = name
        self.lines = queue.Queue()
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern, deadline):
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no line matching {pattern!r}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self):
        terminate(self.proc)
        self.log.close()


def spec_copy(source, work, data_dir):
    """The spec with its data directory pointed at this machine's Fashion-MNIST."""
    text = re.sub(r'(?m)^dir = ".*"$', f'dir = "{data_dir}"', source.read_text())
    path = work / source.name.replace(".toml", f"-{source.parent.name}.toml")
    path.write_text(text)
    return path


def run_stack(binary, work, processes):
    """Starts coordinators, agents and Prometheus (all added to processes); returns its URL."""
    deadline = time.monotonic() + 60
    data_dir = os.environ.get("PATHNET_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")

    def coordinator(name, spec):
        proc = Process(name, [binary, "coordinator", "--listen", "127.0.0.1:0",
                              "--metrics-listen", "127.0.0.1:0", "--spec", str(spec)], work)
        processes.append(proc)
        grpc = proc.wait_for(r"coordinator listening on (\S+)", deadline)[1]
        metrics = proc.wait_for(r"metrics listening on http://(\S+)/metrics", deadline)[1]
        proc.wait_for(r"experiment \S+ started", deadline)
        return grpc, metrics

    # The local overlay's spec must be accepted; its run is the runtime test's business.
    coordinator("coordinator-local", spec_copy(LOCAL_SPEC, work, data_dir))
    processes.pop().stop()

    pathnet_grpc, pathnet_metrics = coordinator("coordinator-pathnet", spec_copy(BASE_SPEC, work, data_dir))
    a3c_grpc, a3c_metrics = coordinator("coordinator-a3c", A3C_SPEC)
    for name, grpc, workers in (("agent-pathnet", pathnet_grpc, 1), ("agent-a3c", a3c_grpc, 2)):
        processes.append(Process(name, [binary, "agent", "--coordinator", f"http://{grpc}",
                                        "--workers", str(workers), "--leave-with-coordinator"], work))

    prometheus = LocalPrometheus(work, [pathnet_metrics, a3c_metrics])
    processes.append(prometheus)
    prometheus.wait_ready(deadline)
    return prometheus.url


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pathnet", default=str(ROOT / "target/debug/pathnet"), help="the pathnet binary")
    parser.add_argument("--prometheus", help="only run the queries against this Prometheus URL")
    args = parser.parse_args()
    if not args.prometheus and not os.access(args.pathnet, os.X_OK):
        parser.error(f"{args.pathnet} not found: build it (cargo build -p pathnet) or give --pathnet")

    variables, queries = load_dashboard()
    print(f"ok    {DASHBOARD.name} loads: {len(queries)} queries, {len(variables)} query variables")
    started = time.monotonic()
    processes = []
    work = Path(tempfile.mkdtemp(prefix="pathnet-dashboard-"))
    passed = failed = 0
    try:
        url = args.prometheus or run_stack(args.pathnet, work, processes)
        answers, pending = check_queries(url, variables, queries, time.monotonic() + DEADLINE_S)
        metrics_ok, missing = check_alert_metrics(url)
        passed, failed = 1 + len(answers) + metrics_ok, len(pending) + len(missing)
    except Exception:
        failed += 1
        for proc in processes:
            proc.log.flush()
            print(f"--- {proc.name} log ---\n{proc.log_path.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        for proc in reversed(processes):
            proc.stop()
        if failed and not args.prometheus:
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
        print(f"dashboard test: {time.monotonic() - started:.1f} s")
        print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
