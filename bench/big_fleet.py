"""The 100,000-file fleet repository of bench/big_repo.py (and bench/first_listing.py):
10,000 application directories under ``apps/team<NN>/``, ten files each, written by
``git fast-import`` as one commit and packed as a forge serves it. ``rollouts`` of the
directories hold a kuberik ``Rollout`` and the Flux ``Kustomization`` it releases.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app{i}
  namespace: team{t}
  labels:
    app.kubernetes.io/name: app{i}
    app.kubernetes.io/part-of: team{t}
spec:
  replicas: {r}
  selector:
    matchLabels:
      app.kubernetes.io/name: app{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app{i}
    spec:
      containers:
        - name: app
          image: registry.example.com/team{t}/app{i}:${{VERSION}}
          ports:
            - containerPort: 8080
          resources:
            requests: {{cpu: 50m, memory: 64Mi}}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: app{i}
  namespace: team{t}
spec:
  selector:
    app.kubernetes.io/name: app{i}
  ports:
    - port: 80
      targetPort: 8080
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app{i}-config
  namespace: team{t}
data:
  LOG_LEVEL: info
  FEATURE_{i}: "true"
"""
HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: app{i}
  namespace: team{t}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: app{i}}}
  minReplicas: 2
  maxReplicas: {r}0
"""
PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: app{i}
  namespace: team{t}
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: app{i}
"""
KUSTOMIZE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: team{t}
resources:
  - deployment.yaml
  - service.yaml
  - configmap.yaml
"""
ROLLOUT = """\
apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata:
  name: app{i}
  namespace: team{t}
spec:
  releasesImagePolicy:
    name: app{i}
  bakeTime: 5m
"""
TARGET = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app{i}
  namespace: team{t}
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: app{i}
spec:
  interval: 5m
  path: ./apps/team{t}/app{i}
  prune: true
  sourceRef: {{kind: GitRepository, name: fleet, namespace: flux-system}}
  postBuild:
    substitute:
      VERSION: "1.0.0"
"""
README = "# app{i}\n\nOwned by team{t}. Runbook: https://wiki.example.com/team{t}/app{i}\n"
VALUES = '{{"name": "app{i}", "team": "team{t}", "replicas": {r}, "tier": "backend"}}\n'
TOML = "[app]\nname = \"app{i}\"\nteam = \"team{t}\"\n\n[limits]\nrequests = {r}00\n"
SCRIPT = "#!/bin/sh\nset -eu\nexec /app/app{i} --port 8080 --team team{t}\n"


def sh(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    return subprocess.run(args, cwd=cwd, env=env or GIT_ENV, check=True, capture_output=True,
                          text=True).stdout


def app_files(i: int, rollouts: int, apps: int) -> dict[str, str]:
    t, r = i % 50, 2 + i % 5
    every = max(1, apps // max(1, rollouts))
    flux = rollouts > 0 and i % every == 0 and i // every < rollouts
    names = {"deployment.yaml": DEPLOYMENT, "service.yaml": SERVICE,
             "configmap.yaml": CONFIGMAP, "kustomization.yaml": KUSTOMIZE,
             "README.md": README, "values.json": VALUES, "config.toml": TOML, "run.sh": SCRIPT}
    if flux:
        names |= {"rollout.yaml": ROLLOUT, "flux.yaml": TARGET}
    else:
        names |= {"hpa.yaml": HPA, "pdb.yaml": PDB}
    return {f"apps/team{t:02d}/app{i:05d}/{name}": text.format(i=i, t=t, r=r)
            for name, text in names.items()}


def make_repo(bare: Path, *, files: int, rollouts: int) -> int:
    """A bare repository of ``files`` files (ten per application directory), one
    commit, by ``git fast-import``; returns the number of files written."""
    sh("git", "init", "-q", "--bare", "-b", "main", str(bare))
    apps = files // 10
    out: list[bytes] = []
    count = 0
    for i in range(apps):
        for path, text in app_files(i, rollouts, apps).items():
            data = text.encode()
            mode = "100755" if path.endswith(".sh") else "100644"
            out.append(f"M {mode} inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
            count += 1
    message = b"fleet: 10,000 applications\n"
    stream = (b"commit refs/heads/main\ncommitter bench <bench@example.com> 1700000000 +0000\n"
              + f"data {len(message)}\n".encode() + message + b"".join(out) + b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare, env=GIT_ENV, input=stream,
                   check=True)
    sh("git", "gc", "-q", cwd=bare)  # what a forge serves: one pack, deltas found
    return count


def rollout_keys(rollouts: int, apps: int) -> list[str]:
    every = max(1, apps // max(1, rollouts))
    return [f"team{i % 50}/app{i}" for i in range(0, apps, every)][:rollouts]
