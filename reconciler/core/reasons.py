"""Condition reasons and Event reasons, in one place (kstatus style, CamelCase).

The daemon writes these into ``Rollout.status.conditions[].reason`` and into
Kubernetes Events; dashboards and alerts match on them, so they are part of the
interface: add new ones, do not rename.
"""

from __future__ import annotations

# Ready / Reconciling / Stalled condition types.
READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"

# Reasons.
UP_TO_DATE = "UpToDate"
RELEASE_WRITTEN = "ReleaseWritten"
DEPLOYING = "Deploying"
BAKING = "Baking"
BAKE_SUCCEEDED = "BakeSucceeded"
BAKE_FAILED = "BakeFailed"
DEPLOY_TIMEOUT = "DeployTimeout"
RELEASE_REVERTED = "ReleaseReverted"
RELEASE_CANCELLED = "ReleaseCancelled"
HELD_BY_MANUAL_CHANGE = "HeldByManualChange"
PINNED = "Pinned"
GATE_BLOCKED = "GateBlocked"
SELECTION_BLOCKED = "SelectionBlocked"
SUSPENDED = "Suspended"
INVALID_SPEC = "InvalidSpec"
SETUP_ERROR = "SetupError"
IMAGE_POLICY_NOT_READY = "ImagePolicyNotReady"
HEALTH_CHECK_NOT_READY = "HealthCheckNotReady"
GIT_ERROR = "GitError"
AUTHENTICATION_FAILED = "AuthenticationFailed"  # the git remote refused the credentials
PUSH_REJECTED = "PushRejected"
CLUSTER_ERROR = "ClusterError"
