"""Consistency of the rendered Kubernetes manifests: the things a schema cannot see.

Selectors match the labels of the pods they mean, probes speak gRPC health on the plain-text
health port, scrape targets point at the metrics port over HTTPS, trust the authority that
signed its certificate and present the metrics token, the agents' coordinator URL names the
Service over TLS, every file a flag names is mounted from the Secret key it should be (and
agents get no more than theirs), mounted Secrets are re-read as Kubernetes updates them, the
mtls overlay's agents present a certificate the coordinator requires (and no other overlay
asks for one), and every pod is locked down. Reads the renderings that deploy/tests/check-manifests writes
(one YAML file per overlay, in the directory named by PATHNET_RENDERED).

    PATHNET_RENDERED=DIR python -m unittest deploy/tests/manifests_test.py
"""

import functools
import os
import re
import unittest
from pathlib import Path
from urllib.parse import urlparse

import yaml

RENDERED = Path(os.environ.get("PATHNET_RENDERED", "rendered"))
OVERLAYS = ("base", "local", "gpu", "mtls")
COORDINATOR = {"app.kubernetes.io/name": "pathnet", "app.kubernetes.io/component": "coordinator"}
AGENT = {"app.kubernetes.io/name": "pathnet", "app.kubernetes.io/component": "agent"}


@functools.cache
def load(overlay):
    """The overlay's documents; shared by the tests, which only read them."""
    path = RENDERED / f"{overlay}.yaml"
    with path.open() as f:
        return tuple(doc for doc in yaml.safe_load_all(f) if doc)


def one(docs, kind, name_prefix=""):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(name_prefix)]
    assert len(found) == 1, f"expected one {kind} {name_prefix!r}, found {len(found)}"
    return found[0]


def selects(selector, labels):
    """Whether a label selector (matchLabels form, or a plain map) picks these labels."""
    match = selector.get("matchLabels", selector) if selector else {}
    assert "matchExpressions" not in (selector or {}), "matchExpressions are not checked here"
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def workloads(docs):
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


def pod_labels(docs):
    return [(w, w["spec"]["template"]["metadata"]["labels"]) for w in workloads(docs)]


def containers(workload):
    return workload["spec"]["template"]["spec"]["containers"]


def port_named(container, name):
    ports = [p for p in container.get("ports", []) if p.get("name") == name]
    assert len(ports) == 1, f"container {container['name']} has no port named {name!r}"
    return ports[0]["containerPort"]


def flags(container, name):
    """Every value of `--name=VALUE` in the container's args (the form the manifests use)."""
    return [a.split("=", 1)[1] for a in container.get("args", []) if a.startswith(f"--{name}=")]


def flag(container, name):
    """The one value of `--name=VALUE` in the container's args."""
    values = flags(container, name)
    assert len(values) == 1, f"container {container['name']}: expected one --{name}=, got {values}"
    return values[0]


def volume_of(workload, container, path):
    """The pod volume mounted over `path`'s directory in the container, and the file's name."""
    path = Path(path)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert str(path.parent) in mounts, f"nothing is mounted at {path.parent} for {path}"
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
    return volumes[mounts[str(path.parent)]], path.name


def secret_key(workload, container, path):
    """(Secret name, key, every key projected) of the file at `path` in the container."""
    volume, name = volume_of(workload, container, path)
    assert "secret" in volume, f"{path} is not from a Secret: {volume}"
    secret = volume["secret"]
    items = {i["path"]: i["key"] for i in secret.get("items", [])}
    # Every Secret volume names its keys, so that a key added to the Secret later never
    # reaches a pod that was not meant to hold it.
    assert items, f"the Secret volume of {path} projects every key"
    # A missing Secret must keep the pod from starting, never start it without its file;
    # stated explicitly, since podman 4.3's `kube play` crashes on the default.
    assert secret.get("optional") is False, f"the Secret volume of {path} is not optional: false"
    assert name in items, f"{path} is not projected"
    return secret["secretName"], items[name], set(items.values())


class Manifests(unittest.TestCase):
    def each(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                yield overlay, load(overlay)

    def test_workload_selectors_match_their_own_pods_and_no_other(self):
        for _, docs in self.each():
            for workload, labels in pod_labels(docs):
                selector = workload["spec"]["selector"]
                self.assertTrue(selects(selector, labels), workload["metadata"]["name"])
                others = [w for w, l in pod_labels(docs) if w is not workload and selects(selector, l)]
                self.assertEqual(others, [], f"{workload['metadata']['name']} also selects others")

    def test_services_pdbs_and_policies_select_exactly_the_intended_pods(self):
        intended = {"coordinator": COORDINATOR, "agent": AGENT}
        for _, docs in self.each():
            for doc in docs:
                kind = doc["kind"]
                if kind == "Service":
                    selector = doc["spec"]["selector"]
                elif kind == "PodDisruptionBudget":
                    selector = doc["spec"]["selector"]
                elif kind == "NetworkPolicy":
                    selector = doc["spec"]["podSelector"]
                else:
                    continue
                component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
                picked = [w["metadata"]["name"] for w, l in pod_labels(docs) if selects(selector, l)]
                wanted = [
                    w["metadata"]["name"]
                    for w, l in pod_labels(docs)
                    if selects(intended[component], l)
                ]
                self.assertEqual(picked, wanted, f"{kind} {doc['metadata']['name']}")
                self.assertEqual(len(picked), 1, f"{kind} {doc['metadata']['name']}")

    def test_statefulset_names_its_headless_service(self):
        for _, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            service = one(docs, "Service", sts["spec"]["serviceName"])
            self.assertEqual(service["spec"].get("clusterIP"), "None")
            self.assertEqual(sts["spec"]["replicas"], 1)

    def test_coordinator_listens_where_its_ports_and_probes_say(self):
        for _, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (container,) = containers(sts)
            grpc = port_named(container, "grpc")
            metrics = port_named(container, "metrics")
            health = port_named(container, "health")
            self.assertEqual(int(flag(container, "listen").rsplit(":", 1)[1]), grpc)
            self.assertEqual(int(flag(container, "metrics-listen").rsplit(":", 1)[1]), metrics)
            self.assertEqual(int(flag(container, "health-listen").rsplit(":", 1)[1]), health)
            self.assertEqual(len({grpc, metrics, health}), 3)
            for probe in ("readinessProbe", "livenessProbe"):
                spec = container[probe]
                # The grpc port speaks TLS, which the kubelet's gRPC probes cannot: they ask
                # the plain-text health listener. gRPC probes take a number: it must be the
                # port named "health".
                self.assertEqual(set(spec) & {"grpc", "httpGet", "tcpSocket", "exec"}, {"grpc"})
                self.assertEqual(spec["grpc"]["port"], health, probe)
                # The empty service name asks for the server as a whole.
                self.assertEqual(spec["grpc"].get("service", ""), "", probe)

    def test_service_ports_reach_the_named_container_ports(self):
        for _, docs in self.each():
            service = one(docs, "Service", "pathnet-coordinator")
            (container,) = containers(one(docs, "StatefulSet", "pathnet-coordinator"))
            names = {p["name"] for p in service["spec"]["ports"]}
            self.assertEqual(names, {"grpc", "metrics"})
            for port in service["spec"]["ports"]:
                self.assertEqual(port["targetPort"], port["name"])
                # Headless: clients dial the pod itself, so the numbers must agree too.
                self.assertEqual(port["port"], port_named(container, port["name"]))

    def test_agents_dial_the_coordinator_service_on_its_grpc_port(self):
        for _, docs in self.each():
            service = one(docs, "Service", "pathnet-coordinator")
            (container,) = containers(one(docs, "Deployment", "pathnet-agent"))
            url = urlparse(flag(container, "coordinator"))
            # TLS: an https URL, and the authority to check the coordinator with.
            self.assertEqual(url.scheme, "https")
            flag(container, "tls-ca")
            self.assertEqual(url.hostname, service["metadata"]["name"])
            grpc = [p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc"]
            self.assertEqual([url.port], grpc)
            # Same namespace, so the short name resolves.
            self.assertEqual(
                service["metadata"]["namespace"],
                one(docs, "Deployment", "pathnet-agent")["metadata"]["namespace"],
            )

    def test_scrape_targets_point_at_the_metrics_port(self):
        for _, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (container,) = containers(sts)
            metrics = port_named(container, "metrics")
            notes = sts["spec"]["template"]["metadata"]["annotations"]
            self.assertEqual(notes["prometheus.io/scrape"], "true")
            self.assertEqual(int(notes["prometheus.io/port"]), metrics)
            self.assertEqual(notes["prometheus.io/path"], "/metrics")
            # The port speaks HTTPS only: a scrape job following the annotations must too.
            self.assertEqual(notes["prometheus.io/scheme"], "https")

            monitor = one(docs, "ServiceMonitor")
            service = one(docs, "Service", "pathnet-coordinator")
            self.assertTrue(selects(monitor["spec"]["selector"], service["metadata"]["labels"]))
            self.assertEqual(monitor["metadata"]["namespace"], service["metadata"]["namespace"])
            for endpoint in monitor["spec"]["endpoints"]:
                (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
                self.assertEqual(port["targetPort"], "metrics")
                self.assertEqual(endpoint["path"], "/metrics")

    def test_network_policy_lets_agents_reach_grpc_and_prometheus_metrics(self):
        for _, docs in self.each():
            policy = one(docs, "NetworkPolicy", "pathnet-coordinator")
            (container,) = containers(one(docs, "StatefulSet", "pathnet-coordinator"))
            agent_labels = one(docs, "Deployment", "pathnet-agent")["spec"]["template"]["metadata"]["labels"]
            rules = policy["spec"]["ingress"]
            self.assertEqual(len(rules), 2)
            by_port = {rule["ports"][0]["port"]: rule for rule in rules}
            # The health port is for the kubelet alone: no pod may reach it.
            self.assertEqual(set(by_port), {"grpc", "metrics"})
            for name in by_port:
                port_named(container, name)
            (peer,) = by_port["grpc"]["from"]
            self.assertEqual(set(peer), {"podSelector"})
            self.assertTrue(selects(peer["podSelector"], agent_labels))
            (peer,) = by_port["metrics"]["from"]
            self.assertEqual(peer["podSelector"]["matchLabels"], {"app.kubernetes.io/name": "prometheus"})
            self.assertIn("namespaceSelector", peer)

    def test_experiment_spec_is_mounted_where_the_coordinator_reads_it(self):
        for _, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (container,) = containers(sts)
            spec_path = Path(flag(container, "spec"))
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            volume_name = mounts[str(spec_path.parent)]
            volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
            config_map = one(docs, "ConfigMap", volumes[volume_name]["configMap"]["name"])
            self.assertEqual(config_map["metadata"]["name"], volumes[volume_name]["configMap"]["name"])
            self.assertIn(spec_path.name, config_map["data"])
            # The coordinator saves its state on the state volume, so a rescheduled pod
            # resumes the experiment.
            self.assertEqual(mounts["/var/lib/pathnet"], "state")
            self.assertEqual(flag(container, "state-dir"), "/var/lib/pathnet")
            claims = [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]]
            self.assertEqual(claims, ["state"])

    def test_token_files_come_from_the_tokens_secret_and_agents_get_only_theirs(self):
        for overlay, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (coordinator,) = containers(sts)
            names = set()
            for name, key in (("agent-token-file", "agent"), ("admin-token-file", "admin")):
                secret, got, _ = secret_key(sts, coordinator, flag(coordinator, name))
                self.assertEqual(got, key)
                names.add(secret)
            deployment = one(docs, "Deployment", "pathnet-agent")
            (agent,) = containers(deployment)
            secret, got, projected = secret_key(deployment, agent, flag(agent, "agent-token-file"))
            self.assertEqual(got, "agent")
            # Agents never hold the admin token.
            self.assertEqual(projected, {"agent"})
            names.add(secret)
            self.assertEqual(len(names), 1, names)
            if overlay == "local":
                # The local overlay brings its own Secret; others expect the operator's.
                generated = one(docs, "Secret", "pathnet-tokens")
                self.assertEqual(generated["metadata"]["name"], names.pop())
                self.assertEqual(set(generated["data"]), {"agent", "admin"})

    def test_grpc_speaks_tls_with_the_certificate_agents_check(self):
        for _, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (coordinator,) = containers(sts)
            cert = secret_key(sts, coordinator, flag(coordinator, "tls-cert"))
            key = secret_key(sts, coordinator, flag(coordinator, "tls-key"))
            # cert-manager's keys, so a Certificate's Secret can be used as it is.
            self.assertEqual((cert[1], key[1]), ("tls.crt", "tls.key"))
            self.assertEqual(cert[0], key[0])
            deployment = one(docs, "Deployment", "pathnet-agent")
            (agent,) = containers(deployment)
            secret, got, projected = secret_key(deployment, agent, flag(agent, "tls-ca"))
            self.assertEqual((secret, got), (cert[0], "ca.crt"))
            # Agents get the authority, never the coordinator's key.
            self.assertEqual(projected, {"ca.crt"})
            # No Secret of ours carries a private key: it is made per cluster (make-dev-tls,
            # cert-manager), never committed.
            for secret in (d for d in docs if d["kind"] == "Secret"):
                self.assertNotEqual(secret["metadata"]["name"], cert[0])
                self.assertFalse({"tls.key", "ca.key"} & set(secret.get("data", {})))

    def test_the_metrics_token_is_the_one_prometheus_presents_and_no_other(self):
        for overlay, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (coordinator,) = containers(sts)
            secret, key, projected = secret_key(sts, coordinator, flag(coordinator, "metrics-token-file"))
            self.assertEqual(projected, {key})
            # Prometheus' Secret holds the metrics token only: reading it must not give the
            # scraper the agent or admin token.
            tokens, _, _ = secret_key(sts, coordinator, flag(coordinator, "agent-token-file"))
            self.assertNotEqual(secret, tokens)
            monitor = one(docs, "ServiceMonitor")
            for endpoint in monitor["spec"]["endpoints"]:
                auth = endpoint["authorization"]
                self.assertEqual(auth.get("type", "Bearer"), "Bearer")
                self.assertEqual(auth["credentials"], {"name": secret, "key": key})
            if overlay == "local":
                generated = one(docs, "Secret", secret)
                self.assertEqual(set(generated["data"]), {key})
                values = [generated["data"][key]] + list(one(docs, "Secret", tokens)["data"].values())
                # The coordinator refuses a metrics token equal to the agent or admin one.
                self.assertEqual(len(set(values)), len(values))

    def test_metrics_speak_https_with_the_certificate_prometheus_checks(self):
        for _, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (coordinator,) = containers(sts)
            cert = secret_key(sts, coordinator, flag(coordinator, "metrics-tls-cert"))
            key = secret_key(sts, coordinator, flag(coordinator, "metrics-tls-key"))
            self.assertEqual((cert[1], key[1]), ("tls.crt", "tls.key"))
            self.assertEqual(cert[0], key[0])
            # The gRPC port's certificate, which names the Service (deploy/README.md says
            # why one certificate serves both).
            grpc = secret_key(sts, coordinator, flag(coordinator, "tls-cert"))
            self.assertEqual(cert[0], grpc[0])
            self.assertEqual(flag(coordinator, "metrics-tls-cert"), flag(coordinator, "tls-cert"))
            self.assertEqual(flag(coordinator, "metrics-tls-key"), flag(coordinator, "tls-key"))
            service = one(docs, "Service", "pathnet-coordinator")
            monitor = one(docs, "ServiceMonitor")
            for endpoint in monitor["spec"]["endpoints"]:
                self.assertEqual(endpoint.get("scheme"), "https")
                tls = endpoint["tlsConfig"]
                # The authority of the certificate's own Secret, its ca.crt only: never a key.
                self.assertEqual(tls["ca"], {"secret": {"name": cert[0], "key": "ca.crt"}})
                self.assertFalse(tls.get("insecureSkipVerify", False))
                self.assertFalse({"keySecret", "keyFile", "cert", "certFile"} & set(tls))
                # The scrape dials the pod's address: the name checked is the Service's,
                # which the certificate must carry (the gRPC one does: agents dial it).
                self.assertEqual(tls["serverName"], service["metadata"]["name"])
                # HTTPS carries the token, it does not replace it.
                self.assertIn("authorization", endpoint)

    def test_mounted_secrets_are_read_again_as_kubernetes_updates_them(self):
        for _, docs in self.each():
            (coordinator,) = containers(one(docs, "StatefulSet", "pathnet-coordinator"))
            interval = int(flag(coordinator, "reload-interval-ms"))
            # The coordinator refuses under 100 ms; over a minute a rotation would wait on
            # the coordinator longer than on the kubelet's own update of the files.
            self.assertTrue(100 <= interval <= 60_000, interval)
            # Only files can change: every token and certificate comes from a mounted file.
            env = {e["name"] for e in coordinator.get("env", [])}
            self.assertFalse({"PATHNET_AGENT_TOKEN", "PATHNET_ADMIN_TOKEN", "PATHNET_METRICS_TOKEN"} & env)

    def test_only_the_mtls_overlay_asks_agents_for_a_certificate_and_requires_one(self):
        for overlay, docs in self.each():
            sts = one(docs, "StatefulSet", "pathnet-coordinator")
            (coordinator,) = containers(sts)
            deployment = one(docs, "Deployment", "pathnet-agent")
            (agent,) = containers(deployment)
            if overlay != "mtls":
                self.assertEqual(flags(coordinator, "tls-client-ca"), [])
                self.assertEqual(flags(agent, "tls-cert") + flags(agent, "tls-key"), [])
                continue
            server = secret_key(sts, coordinator, flag(coordinator, "tls-cert"))
            # Client certificates must chain to the authority agents check the coordinator
            # with: the ca.crt of the coordinator's own Secret.
            self.assertEqual(secret_key(sts, coordinator, flag(coordinator, "tls-client-ca"))[:2],
                             (server[0], "ca.crt"))
            self.assertEqual(secret_key(deployment, agent, flag(agent, "tls-ca"))[:2], (server[0], "ca.crt"))
            cert = secret_key(deployment, agent, flag(agent, "tls-cert"))
            key = secret_key(deployment, agent, flag(agent, "tls-key"))
            self.assertEqual((cert[1], key[1]), ("tls.crt", "tls.key"))
            self.assertEqual(cert[0], key[0])
            self.assertEqual(cert[2], {"tls.crt", "tls.key"})
            # The agents' key lives apart from the coordinator's, and neither pod mounts the other's.
            self.assertNotEqual(cert[0], server[0])
            coordinator_secrets = {v["secret"]["secretName"] for v in sts["spec"]["template"]["spec"]["volumes"]
                                   if "secret" in v}
            self.assertNotIn(cert[0], coordinator_secrets)
            # The agent token is still presented: the certificate does not replace it.
            flag(agent, "agent-token-file")

    def test_every_pod_runs_unprivileged_with_a_read_only_root_and_bounded_resources(self):
        for _, docs in self.each():
            for workload in workloads(docs):
                pod = workload["spec"]["template"]["spec"]
                self.assertIs(pod["securityContext"]["runAsNonRoot"], True)
                self.assertNotEqual(pod["securityContext"].get("runAsUser"), 0)
                self.assertIs(pod["automountServiceAccountToken"], False)
                for container in pod["containers"]:
                    context = container["securityContext"]
                    self.assertIs(context["allowPrivilegeEscalation"], False)
                    self.assertIs(context["readOnlyRootFilesystem"], True)
                    self.assertEqual(context["capabilities"]["drop"], ["ALL"])
                    for bound in ("requests", "limits"):
                        self.assertEqual(
                            {"cpu", "memory"} - set(container["resources"][bound]), set(), bound
                        )

    def test_gpu_overlay_puts_agents_on_gpu_nodes_and_leaves_the_coordinator(self):
        docs = load("gpu")
        agent = one(docs, "Deployment", "pathnet-agent")["spec"]["template"]["spec"]
        (container,) = agent["containers"]
        self.assertEqual(container["resources"]["limits"]["nvidia.com/gpu"], "1")
        self.assertEqual(container["resources"]["requests"]["nvidia.com/gpu"], "1")
        self.assertEqual(agent["nodeSelector"], {"nvidia.com/gpu.present": "true"})
        coordinator = one(docs, "StatefulSet", "pathnet-coordinator")["spec"]["template"]["spec"]
        self.assertNotIn("nodeSelector", coordinator)
        for overlay in ("base", "local", "mtls"):
            (container,) = containers(one(load(overlay), "Deployment", "pathnet-agent"))
            self.assertNotIn("nvidia.com/gpu", container["resources"]["limits"])

    def test_pods_run_the_image_build_image_tags(self):
        cargo = Path("Cargo.toml").read_text()
        version = re.search(r'(?m)^version = "(.+)"$', cargo)[1]
        for _, docs in self.each():
            for workload in workloads(docs):
                for container in containers(workload):
                    self.assertEqual(container["image"], f"localhost/pathnet:{version}")

    def test_alerts_only_name_metrics_the_coordinator_documents(self):
        documented = set(re.findall(r"`(pathnet_\w+)`", Path("docs/monitoring.md").read_text()))
        for _, docs in self.each():
            rule = one(docs, "PrometheusRule")
            for group in rule["spec"]["groups"]:
                for alert in group["rules"]:
                    used = set(re.findall(r"\bpathnet_\w+", alert["expr"]))
                    self.assertTrue(used, alert["alert"])
                    self.assertEqual(used - documented, set(), alert["alert"])


if __name__ == "__main__":
    unittest.main()
