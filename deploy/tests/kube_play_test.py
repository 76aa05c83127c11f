"""Runtime test of the Kubernetes manifests: the local overlay, run by `podman kube play`.

podman runs Deployments (as pods), ConfigMaps and PersistentVolumeClaims; it has no
StatefulSet, Service, NetworkPolicy or controller. So the rendered overlay is turned into
what it can run, and nothing else is changed:
  - the coordinator's StatefulSet becomes a Pod named after the Service (agents dial
    http://pathnet-coordinator:50051 and the test network's DNS answers that name), its
    volume claim template a PersistentVolumeClaim (a podman volume);
  - the coordinator's gRPC and metrics ports are published on 127.0.0.1, so the test's gRPC
    health client and a real Prometheus reach them on loopback;
  - the agent Deployment runs as it is, with --agents replicas.
Then: the coordinator answers SERVING over the gRPC health protocol, Prometheus' query API
shows N agents and advancing evaluations, the live dashboard answers on the published metrics
port (as through `kubectl port-forward`) with the page and a snapshot showing the N agents and
the pathway grid, one agent's process is killed and its container
comes back (restartPolicy) and rejoins, and the experiment completes. Everything is removed
at the end: pods, volume, network, Prometheus.

    deploy/tests/kube-play-test    # builds the image, installs what is missing, runs this
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import LocalPrometheus, free_port, poll

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy/kubernetes/overlays/local"
# podman cannot run what Kubernetes runs these for; the static checks cover them.
NOT_PLAYED = {"Namespace", "ServiceAccount", "Service", "NetworkPolicy", "PodDisruptionBudget",
              "ServiceMonitor", "PrometheusRule"}


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(*argv, check=True, capture=True):
    result = subprocess.run(argv, text=True, capture_output=capture)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip() if capture else ""


def container_log(name, tail=None):
    """Both streams: podman gives the container's stderr (where logs go) on its own stderr."""
    argv = ["podman", "logs"] + (["--tail", str(tail)] if tail else []) + [name]
    return subprocess.run(argv, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout


def playable(rendered, agents, grpc_port, metrics_port):
    """The documents podman can play, derived from the rendered overlay as described above."""
    docs, statefulsets = [], []
    for doc in rendered:
        if doc["kind"] in NOT_PLAYED:
            continue
        if doc["kind"] == "StatefulSet":
            statefulsets.append(doc)
            continue
        if doc["kind"] == "Deployment":
            doc["spec"]["replicas"] = agents
        docs.append(doc)
    (sts,) = statefulsets
    service_name = sts["spec"]["serviceName"]
    template = sts["spec"]["template"]
    pod_spec = dict(template["spec"], hostname=service_name)
    for claim in sts["spec"]["volumeClaimTemplates"]:
        claim_name = f"{claim['metadata']['name']}-{service_name}-0"
        docs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": claim_name, "labels": claim["metadata"].get("labels", {})},
                     "spec": claim["spec"]})
        pod_spec["volumes"] = pod_spec.get("volumes", []) + [
            {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}}]
    (container,) = pod_spec["containers"]
    published = {"grpc": grpc_port, "metrics": metrics_port}
    for port in container["ports"]:
        port["hostIP"] = "127.0.0.1"
        port["hostPort"] = published[port["name"]]
    docs.append({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": service_name, "labels": template["metadata"]["labels"],
                              "annotations": template["metadata"].get("annotations", {})},
                 "spec": pod_spec})
    return docs


def health(address):
    try:
        with grpc.insecure_channel(address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            return answer.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def dashboard_snapshot(address):
    """The page and the first event of its stream, as a browser behind a port-forward gets them."""
    with urllib.request.urlopen(f"http://{address}/", timeout=10) as answer:
        if b"<title>pathnet-cluster dashboard</title>" not in answer.read():
            raise RuntimeError(f"http://{address}/ is not the dashboard")
    with urllib.request.urlopen(f"http://{address}/events", timeout=10) as stream:
        event = None
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "snapshot":
                return json.loads(line.split(":", 1)[1])
    raise RuntimeError(f"http://{address}/events ended without a snapshot")


def agent_containers(deployment_name):
    names = run("podman", "ps", "--all", "--format", "{{.Names}}").split()
    return sorted(n for n in names if n.startswith(deployment_name) and "infra" not in n)


def check_locked_down(containers):
    """What the pods' security contexts and limits asked for is what the containers got."""
    fields = ("{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.SecurityOpt}} "
              "{{.EffectiveCaps}} {{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}")
    for name in containers:
        got = run("podman", "inspect", "--format", fields, name)
        read_only, user, security, caps, memory, restart = got.split(" ", 5)
        if not (read_only == "true" and user.split(":")[0] not in ("", "0", "root")
                and "no-new-privileges" in security and caps == "[]" and int(memory) > 0
                and restart == "always"):
            raise RuntimeError(f"{name} is not locked down as the manifests say: {got}")
    log(f"{len(containers)} containers: read-only root, uid 65532, no new privileges, "
        "no capabilities, memory limit, restart always")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--kubectl", default=str(ROOT / ".venv-deploy/bin/kubectl"))
    args = parser.parse_args()

    started = time.monotonic()
    deadline = started + 240
    work = Path(tempfile.mkdtemp(prefix="pathnet-kube-play-"))
    network = f"pathnet-kube-test-{os.getpid()}"
    grpc_port, metrics_port = free_port(), free_port()
    rendered = list(yaml.safe_load_all(run(args.kubectl, "kustomize", str(OVERLAY))))
    docs = playable([d for d in rendered if d], args.agents, grpc_port, metrics_port)
    play = work / "play.yaml"
    play.write_text(yaml.safe_dump_all(docs))
    agent_deployment = next(d["metadata"]["name"] for d in docs if d["kind"] == "Deployment")
    prometheus = None
    played = False
    ok = False
    try:
        run("podman", "network", "create", network)
        # Prometheus first, so the coordinator is scraped from its first second on.
        prometheus = LocalPrometheus(work, [f"127.0.0.1:{metrics_port}"])
        t0 = time.monotonic()
        played = True  # a play that fails halfway leaves things to remove too
        run("podman", "kube", "play", "--network", network, str(play))
        address = f"127.0.0.1:{grpc_port}"
        poll("the coordinator's gRPC health to be SERVING", deadline, lambda: health(address))
        log(f"coordinator SERVING over gRPC health {time.monotonic() - t0:.1f} s after `podman kube play`")

        check_locked_down([f"{docs[-1]['metadata']['name']}-coordinator"] + agent_containers(agent_deployment))

        poll(f"{args.agents} agents and a first evaluation in Prometheus", deadline, lambda: (
            prometheus.value("pathnet_agents_connected") == args.agents
            and prometheus.value("sum(pathnet_evaluations_total)")))
        log(f"Prometheus: pathnet_agents_connected = {args.agents}, evaluations under way")

        status = dashboard_snapshot(f"127.0.0.1:{metrics_port}")["status"]
        experiment = status["experiment"] or {}
        if (status["agents_connected"] != args.agents or experiment.get("state") != "running"
                or not experiment.get("pathways")):
            raise RuntimeError(f"the dashboard's snapshot does not show the run: {status}")
        log(f"dashboard: the page and a snapshot of {experiment['id']} running with "
            f"{args.agents} agents and its pathway grid")

        victim = agent_containers(agent_deployment)[0]
        pid = run("podman", "inspect", "--format", "{{.State.Pid}}", victim)
        restarts = int(run("podman", "inspect", "--format", "{{.RestartCount}}", victim))
        os.kill(int(pid), 9)
        log(f"killed agent container {victim} (pid {pid})")
        poll(f"{victim} to come back", deadline, lambda: (
            int(run("podman", "inspect", "--format", "{{.RestartCount}}", victim)) > restarts
            and run("podman", "inspect", "--format", "{{.State.Running}}", victim) == "true"))
        # Its log (both runs) says "joined" once per session with the coordinator.
        poll(f"{victim} to rejoin", deadline,
             lambda: container_log(victim).count(" joined ") >= 2)
        if prometheus.value('max(pathnet_experiment_state{state="running"})') != 1:
            raise RuntimeError("the experiment ended before the killed agent was back: make it longer")
        log(f"{victim} restarted and rejoined while the experiment runs")

        poll("the experiment to complete", deadline,
             lambda: prometheus.value('max(pathnet_experiment_state{state="completed"})') == 1)
        total = prometheus.value("sum(pathnet_evaluations_total)")
        expired = prometheus.value('sum(pathnet_leases_ended_total{reason="expired"})') or 0
        log(f"experiment completed: {total:.0f} evaluations, {expired:.0f} leases expired")
        # Scraped once a second all along: the counter must have advanced step by step.
        samples = prometheus.range("sum(pathnet_evaluations_total)", time.time() - (time.monotonic() - t0))
        rising = sum(1 for a, b in zip(samples, samples[1:]) if b > a)
        if rising < 3 or samples != sorted(samples):
            raise RuntimeError(f"evaluations did not advance scrape by scrape: {samples}")
        log(f"Prometheus: evaluations rose in {rising} of {len(samples) - 1} one-second steps")
        ok = True
    finally:
        if not ok:
            for name in run("podman", "ps", "--all", "--format", "{{.Names}}", check=False).split():
                if "infra" not in name:
                    print(f"--- {name} ---\n{container_log(name, tail=20)}", file=sys.stderr)
        if prometheus:
            prometheus.stop()
        if played:
            run("podman", "kube", "down", str(play), check=False)
            # Claims and ConfigMaps become podman volumes, which `kube down` leaves.
            for doc in docs:
                if doc["kind"] in ("PersistentVolumeClaim", "ConfigMap"):
                    run("podman", "volume", "rm", "--force", doc["metadata"]["name"], check=False)
        run("podman", "network", "rm", "--force", network, check=False)
        shutil.rmtree(work, ignore_errors=True)
        log(f"runtime test {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
        print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
