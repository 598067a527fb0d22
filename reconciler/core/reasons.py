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
CANARY_STEP_BAKED = "CanaryStepBaked"  # a canary step's bake ended well: the next is written
HELD_BY_MANUAL_CHANGE = "HeldByManualChange"
PINNED = "Pinned"
GATE_BLOCKED = "GateBlocked"
OUTSIDE_DEPLOY_WINDOW = "OutsideDeployWindow"  # a new release waits for its window to open
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

# Pull-request mode (engine/writers/pullrequest.py).
PULL_REQUEST_OPEN = "PullRequestOpen"  # proposed; waiting for a merge (a person's or ours)
PULL_REQUEST_OPENED = "PullRequestOpened"  # Event: a new pull request
PULL_REQUEST_UPDATED = "PullRequestUpdated"  # Event: a newer release on the open one
PULL_REQUEST_MERGED = "PullRequestMerged"  # Event: the reconciler merged it
PULL_REQUEST_DECLINED = "PullRequestDeclined"  # closed unmerged: that release is declined
PULL_REQUEST_EDITED = "PullRequestEditedByHand"  # a person pushed to its branch
REVERT_PUSH_REFUSED = "RevertPushRefused"  # direct revert refused: sent as a pull request
FORGE_ERROR = "ForgeError"
FORGE_RATE_LIMITED = "ForgeRateLimited"
FORGE_AUTHENTICATION_FAILED = "ForgeAuthenticationFailed"

# Test hooks and approvals (engine/checkpoints.py).
AWAITING_APPROVAL = "AwaitingApproval"  # spec.approval: manual; `reconciler approve` releases it
APPROVED = "Approved"  # Event: a person approved the release
WAITING_FOR_CONFIRMATION = "WaitingForConfirmation"  # a confirm-* hook answered non-2xx
PRE_ROLLOUT_HOOK_FAILED = "PreRolloutHookFailed"  # a pre-rollout hook blocks the release
HOOK_PASSED = "HookPassed"  # Event: a hook answered 2xx (first call, or after failing)
HOOK_FAILED = "HookFailed"  # Event: a hook answered otherwise (a notice: hook-failed)
