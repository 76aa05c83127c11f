"""Runtime test of the Kubernetes manifests: the local overlay, run by `podman kube play`;
with --mtls (or PATHNET_KUBE_PLAY_MTLS=1), the local overlay with the mtls component, the
mutual TLS of overlays/mtls.

podman runs Deployments (as pods), ConfigMaps, Secrets and PersistentVolumeClaims; it has no
StatefulSet, Service, NetworkPolicy or controller. So the rendered overlay is turned into
what it can run, and nothing else is changed:
  - the coordinator's StatefulSet becomes a Pod named after the Service (agents dial
    https://pathnet-coordinator:50051 and the test network's DNS answers that name), its
    volume claim template a PersistentVolumeClaim (a podman volume);
  - the TLS Secret the overlay expects from the operator (pathnet-tls, and with --mtls the
    agents' pathnet-agent-tls) is made here, from a fresh authority of deploy/make-dev-tls,
    as an operator would make it; each Secret
    volume becomes a read-only directory of the files Kubernetes would project
    (`secrets_as_files` says why podman's own Secret volumes cannot be used);
  - the coordinator's gRPC, health and metrics ports are published on 127.0.0.1, so the
    test's gRPC clients and a real Prometheus reach them on loopback;
  - the agent Deployment runs as it is, with --agents replicas.
Then: the coordinator answers SERVING over the gRPC health protocol on the plain-text health
port (where the kubelet's probes go) and over TLS on the grpc port, which refuses plain text
(and, with --mtls, a client without a certificate); the metrics port speaks HTTPS only, its
certificate checked against the authority for the Service's name, refuses plain HTTP and a
scrape without the token; Prometheus, scraping over HTTPS with the authority and the metrics
token of the overlay's Secret, shows N agents and advancing evaluations in its query API; the
live dashboard answers on the published metrics port (as through `kubectl port-forward`)
with the page and a snapshot showing the N agents and the pathway grid; one agent's process
is killed and its container comes back (restartPolicy) and rejoins over TLS; and the
experiment completes. Everything is removed at the end: pods, Secrets, volume, network,
Prometheus.

    deploy/tests/kube-play-test    # builds the image, installs what is missing, runs this
"""

import argparse
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import LocalPrometheus, free_port, poll

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy/kubernetes/overlays/local"
MTLS = ROOT / "deploy/kubernetes/components/mtls"
# The name agents dial and Prometheus checks the certificates for (the Service's).
SERVER_NAME = "pathnet-coordinator"
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


def tls_secret(name, files):
    """The Secret an operator makes with `kubectl create secret generic NAME
    --from-file=KEY=PATH ...`, from {key: path}."""
    data = {key: base64.b64encode(path.read_bytes()).decode() for key, path in files.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "Opaque", "data": data}


def render(kubectl, work, mtls):
    """The local overlay as kustomize renders it; with mtls, through a kustomization of its
    own that adds the mtls component (the way an operator adds it to any overlay)."""
    if not mtls:
        return run(kubectl, "kustomize", str(OVERLAY))
    directory = work / "mtls-overlay"
    directory.mkdir()
    (directory / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(OVERLAY, directory)],
        "components": [os.path.relpath(MTLS, directory)],
    }))
    return run(kubectl, "kustomize", str(directory))


def secret_value(docs, name_prefix, key):
    """A key of the rendered Secret whose (hashed) name starts with name_prefix."""
    (secret,) = [d for d in docs if d["kind"] == "Secret"
                 and d["metadata"]["name"].startswith(name_prefix)]
    return base64.b64decode(secret["data"][key]).decode()


def secrets_as_files(pod_name, pod_spec, secrets, work):
    """Each Secret volume of the pod becomes a read-only directory holding what Kubernetes
    would project (its `items`, or every key). podman 4.3.1 cannot mount Secrets as they
    are: it writes `data` into the files still base64-encoded and ignores `stringData`, and
    it shares one volume per Secret between pods, the first pod's projection for all."""
    for volume in pod_spec.get("volumes", []):
        source = volume.pop("secret", None)
        if source is None:
            continue
        data = secrets[source["secretName"]]
        items = source.get("items") or [{"key": key, "path": key} for key in data]
        directory = work / "secrets" / f"{pod_name}-{volume['name']}"
        directory.mkdir(parents=True)
        for item in items:
            (directory / item["path"]).write_bytes(data[item["key"]])
            (directory / item["path"]).chmod(0o444)
        volume["hostPath"] = {"path": str(directory), "type": "Directory"}


def playable(rendered, agents, ports, work):
    """The documents podman can play, derived from the rendered overlay as described above;
    `ports` maps the coordinator's port names to the loopback ports they are published on."""
    docs, statefulsets = [], []
    secrets = {d["metadata"]["name"]: {k: base64.b64decode(v) for k, v in d.get("data", {}).items()}
               for d in rendered if d["kind"] == "Secret"}
    for doc in rendered:
        if doc["kind"] in NOT_PLAYED or doc["kind"] == "Secret":
            continue
        if doc["kind"] in ("Deployment", "StatefulSet"):
            secrets_as_files(doc["metadata"]["name"], doc["spec"]["template"]["spec"], secrets, work)
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
    for port in container["ports"]:
        port["hostIP"] = "127.0.0.1"
        port["hostPort"] = ports[port["name"]]
    docs.append({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": service_name, "labels": template["metadata"]["labels"],
                              "annotations": template["metadata"].get("annotations", {})},
                 "spec": pod_spec})
    return docs


def health(address, ca=None, server_name=None, client=None):
    """Whether the health service at address answers SERVING: in plain text, or over TLS
    trusting `ca` (PEM bytes) and checking the certificate for server_name, presenting the
    client certificate `client` ((key, chain), PEM bytes) when given."""
    try:
        if ca is None:
            channel = grpc.insecure_channel(address)
        else:
            key, chain = client or (None, None)
            credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                                       certificate_chain=chain)
            channel = grpc.secure_channel(address, credentials,
                                          options=[("grpc.ssl_target_name_override", server_name)])
        with channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            return answer.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


def http_status(url, token=None, context=None):
    """The status of GET url, presenting token as a Bearer token when given; over HTTPS,
    checking the certificate with the ssl `context`."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def dashboard_snapshot(address, token, context):
    """The page and the first event of its stream, as a browser behind a port-forward gets
    them (over HTTPS, checked with the ssl `context`) once its user has given the metrics
    token (as the Basic password, any user name)."""
    basic = base64.b64encode(f"operator:{token}".encode()).decode()
    def get(path):
        request = urllib.request.Request(f"https://{address}{path}", headers={"Authorization": f"Basic {basic}"})
        return urllib.request.urlopen(request, timeout=10, context=context)
    with get("/") as answer:
        if b"<title>pathnet-cluster dashboard</title>" not in answer.read():
            raise RuntimeError(f"https://{address}/ is not the dashboard")
    with get("/events") as stream:
        event = None
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "snapshot":
                return json.loads(line.split(":", 1)[1])
    raise RuntimeError(f"https://{address}/events ended without a snapshot")


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
    parser.add_argument("--mtls", action="store_true",
                        default=os.environ.get("PATHNET_KUBE_PLAY_MTLS", "") not in ("", "0"),
                        help="play the local overlay with the mtls component: agents join with "
                             "client certificates the coordinator requires")
    args = parser.parse_args()

    started = time.monotonic()
    deadline = started + 240
    work = Path(tempfile.mkdtemp(prefix="pathnet-kube-play-"))
    network = f"pathnet-kube-test-{os.getpid()}"
    ports = {"grpc": free_port(), "metrics": free_port(), "health": free_port()}
    rendered = [d for d in yaml.safe_load_all(render(args.kubectl, work, args.mtls)) if d]
    # The TLS Secrets the overlay expects, made as an operator makes them (deploy/README.md).
    run(str(ROOT / "deploy/make-dev-tls"), str(work / "tls"))
    tls = work / "tls"
    operator_secrets = [tls_secret("pathnet-tls", {name: tls / name for name in ("tls.crt", "tls.key", "ca.crt")})]
    if args.mtls:
        operator_secrets.append(tls_secret("pathnet-agent-tls", {"tls.crt": tls / "agent.crt",
                                                                 "tls.key": tls / "agent.key"}))
    # The container user (65532) must reach the Secrets' files under the scratch directory.
    work.chmod(0o755)
    docs = playable(operator_secrets + rendered, args.agents, ports, work)
    play = work / "play.yaml"
    play.write_text(yaml.safe_dump_all(docs))
    metrics_token = secret_value(rendered, "pathnet-metrics-token", "token")
    token_file = work / "metrics.token"
    token_file.write_text(metrics_token)
    ca = (tls / "ca.crt").read_bytes()
    client = ((tls / "agent.key").read_bytes(), (tls / "agent.crt").read_bytes())
    # The metrics port's certificate checked against the authority, for 127.0.0.1 (one of
    # its names, as make-dev-tls makes it; Prometheus checks it for the Service's name).
    https = ssl.create_default_context(cafile=str(tls / "ca.crt"))
    agent_deployment = next(d["metadata"]["name"] for d in docs if d["kind"] == "Deployment")
    secrets = [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"]
    prometheus = None
    played = False
    ok = False
    try:
        run("podman", "network", "create", network)
        # Secrets, and the volumes podman mounts them from (named after them), outlive
        # `kube down`; podman reuses such a volume as it finds it, so one left by another
        # run would hand the pods that run's files.
        for name in secrets:
            run("podman", "secret", "rm", name, check=False)
            run("podman", "volume", "rm", "--force", name, check=False)
        # Prometheus first, so the coordinator is scraped from its first second on.
        prometheus = LocalPrometheus(work, [f"127.0.0.1:{ports['metrics']}"], credentials_file=token_file,
                                     ca_file=tls / "ca.crt", server_name=SERVER_NAME)
        t0 = time.monotonic()
        played = True  # a play that fails halfway leaves things to remove too
        run("podman", "kube", "play", "--network", network, str(play))
        poll("the coordinator's gRPC health to be SERVING on the health port", deadline,
             lambda: health(f"127.0.0.1:{ports['health']}"))
        log(f"coordinator SERVING over gRPC health on the plain-text health port "
            f"{time.monotonic() - t0:.1f} s after `podman kube play`")
        address = f"127.0.0.1:{ports['grpc']}"
        if not health(address, ca, SERVER_NAME, client if args.mtls else None):
            raise RuntimeError(f"the grpc port does not answer over TLS for {SERVER_NAME}")
        if health(address):
            raise RuntimeError("the grpc port answers in plain text")
        if args.mtls and health(address, ca, SERVER_NAME):
            raise RuntimeError("mutual TLS: the grpc port answers a client without a certificate")
        log(f"grpc port: SERVING over TLS (certificate checked for {SERVER_NAME}"
            + (", the agents' client certificate presented), a client without one refused,"
               if args.mtls else "),")
            + " plain text refused")
        metrics_url = f"https://127.0.0.1:{ports['metrics']}"
        refused = http_status(f"{metrics_url}/metrics", context=https)
        if refused != 401 or http_status(f"{metrics_url}/healthz", context=https) != 200:
            raise RuntimeError(f"/metrics without the metrics token answered {refused}, not 401")
        plain = http_status(f"http://127.0.0.1:{ports['metrics']}/metrics")
        if plain != 400:
            raise RuntimeError(f"plain HTTP to the metrics port answered {plain}, not 400")
        log("metrics port: HTTPS (certificate checked against the authority), plain HTTP "
            "refused (400), /metrics refuses a scrape without the token (401), /healthz open")

        check_locked_down([f"{docs[-1]['metadata']['name']}-coordinator"] + agent_containers(agent_deployment))

        poll(f"{args.agents} agents and a first evaluation in Prometheus", deadline, lambda: (
            prometheus.value("pathnet_agents_connected") == args.agents
            and prometheus.value("sum(pathnet_evaluations_total)")))
        log(f"Prometheus (HTTPS checked for {SERVER_NAME}, Bearer metrics token): "
            f"pathnet_agents_connected = {args.agents}"
            + (" (joined with client certificates)" if args.mtls else "") + ", evaluations under way")

        status = dashboard_snapshot(f"127.0.0.1:{ports['metrics']}", metrics_token, https)["status"]
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
            for name in secrets:
                run("podman", "secret", "rm", name, check=False)
                run("podman", "volume", "rm", "--force", name, check=False)
        run("podman", "network", "rm", "--force", network, check=False)
        shutil.rmtree(work, ignore_errors=True)
        log(f"runtime test{' (mutual TLS)' if args.mtls else ''} {'passed' if ok else 'FAILED'} "
            f"in {time.monotonic() - started:.1f} s")
        print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
