"""Launch moto, the AWS emulator, for the end-to-end tests.

    python tests/moto/server.py --port-file PATH [--port N] [--verbose]

Serves every moto service (ECS, SSM, STS, ECR, S3, ...) on 127.0.0.1, one request
at a time, so each request is atomic. Once the socket is listening, the bound port
is written to PATH (as decimal digits, atomically). The launcher exits as soon as
its stdin reaches EOF: the test harness holds the write end of a pipe, so the
launcher goes away with the harness.

On top of moto it:
  * makes ECS deployments behave like real ECS (see "ECS deployments" below);
  * keeps the RegisterTaskDefinition fields moto 5.2.5 drops;
  * makes one-off tasks stop with a chosen exit code (see "One-off tasks");
  * makes CodeDeploy deployments of ECS services progress and end, deploying the
    AppSpec's task definition (see "CodeDeploy deployments");
  * answers a control endpoint under /_ledger/ (see README.md).
"""

import argparse
import io
import json
import logging
import os
import random
import re
import sys
import threading
import uuid
from collections import Counter
from datetime import datetime, timezone
from urllib.parse import parse_qs

import moto.codedeploy.responses
from moto.codedeploy.models import CodeDeployBackend, DeploymentInfo
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.ecs.exceptions import EcsClientException, InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, Task, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

# ---------------------------------------------------------------------------
# Rollout policies, set through POST /_ledger/rollout.
# ---------------------------------------------------------------------------

OUTCOMES = ("complete", "fail", "rollback", "never", "alarm", "hook", "stop")
DEFAULT_POLICY = {"outcome": "complete", "steps": 2, "bake_steps": 2, "alarm": None, "stage": None}

# (cluster name, service name) -> {"outcome": ..., "steps": ..., "bake_steps": ..., "alarm": ...,
# "stage": ...}; either name may be "*".
rollout_policies = {}


def most_specific(policies, outer, inner, default):
    """The most specific of `policies` for (`outer`, `inner`): (outer, inner), (outer, "*"),
    ("*", inner), ("*", "*"); else `default`."""
    for key in ((outer, inner), (outer, "*"), ("*", inner), ("*", "*")):
        if key in policies:
            return policies[key]
    return default


def policy_for(cluster, service):
    """The most specific policy set for a service, else the default."""
    return most_specific(rollout_policies, cluster, service, DEFAULT_POLICY)


# ---------------------------------------------------------------------------
# ECS deployments.
#
# moto creates one PRIMARY deployment per service and never changes it:
# UpdateService does not start a new deployment and rollouts never progress.
# Here a service carries extra attributes (underscored: not part of the ECS model,
# so moto never serialises them; more under "Service deployments" below):
#   _ledger_observed: how many observations (DescribeServices, or
#       DescribeServiceDeployments) have seen the rollout in progress, or None once
#       its rollout has ended;
#   _ledger_steady_task_definition: the task definition of the last deployment
#       that COMPLETED, which a circuit-breaker rollback returns to.
# ---------------------------------------------------------------------------

CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."


def new_deployment(service, template, task_definition, rollout_state):
    """A PRIMARY deployment of `task_definition`, already done if COMPLETED.

    `template` is an existing deployment of the service: moto's own fields
    (launchType, platformVersion, networkConfiguration...) are copied from it.
    """
    deployment_id = f"ecs-svc/{random.randrange(10**18, 10**19)}"  # 19 digits, as ECS
    done = rollout_state == "COMPLETED"
    now = utcnow()
    return {
        **template,
        "id": deployment_id,
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "desiredCount": service.desired_count,
        "pendingCount": 0 if done else service.desired_count,
        "runningCount": service.desired_count if done else 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
        "rolloutState": rollout_state,
        "rolloutStateReason": (
            f"ECS deployment {deployment_id} completed."
            if done
            else f"ECS deployment {deployment_id} in progress."
        ),
    }


def add_event(service, message):
    # ECS lists a service's events newest first.
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": message})


def active_task_definition(backend, task_definition_str):
    """The task definition named, refused like ECS does if it is deregistered."""
    task_definition = backend.describe_task_definition(task_definition_str)
    if task_definition.status == "INACTIVE":
        raise EcsClientException("TaskDefinition is inactive")
    return task_definition


original_create_service = EC2ContainerServiceBackend.create_service
original_update_service = EC2ContainerServiceBackend.update_service
original_describe_services = EC2ContainerServiceBackend.describe_services
original_create_service_response = EC2ContainerServiceResponse.create_service


def create_service(self, cluster_str, service_name, desired_count, task_definition_str=None, *args, **kwargs):
    """CreateService: a single PRIMARY deployment, already COMPLETED, and its service
    deployment, SUCCESSFUL."""
    if task_definition_str:
        active_task_definition(self, task_definition_str)
    service = original_create_service(
        self, cluster_str, service_name, desired_count, task_definition_str, *args, **kwargs
    )
    service._ledger_observed = None
    service._ledger_steady_task_definition = service.task_definition
    service._ledger_deployment = None
    service.deployment_configuration = deployment_configuration(None)
    service._ledger_revision = service._ledger_steady_revision = service_revision_arn(service)
    if service.deployments:  # only ECS-controlled services have deployments
        service.deployments = [
            new_deployment(service, service.deployments[0], service.task_definition, "COMPLETED")
        ]
        service.running_count = service.desired_count
        service.pending_count = 0
        record = start_service_deployment(service, sources=[])
        finish_service_deployment(service, record, "SUCCESSFUL")
    return service


def create_service_response(self):
    """CreateService keeps the deploymentConfiguration asked for (moto drops it)."""
    result = original_create_service_response(self)
    service = result.result["service"]
    service.deployment_configuration = deployment_configuration(self._get_param("deploymentConfiguration"))
    return result


def update_service(self, service_properties):
    """UpdateService: a new task definition, or forceNewDeployment, starts a new
    PRIMARY deployment, IN_PROGRESS, and its service deployment; the previous PRIMARY
    becomes ACTIVE. A deploymentConfiguration given is kept, merged into the service's."""
    task_definition_str = service_properties.get("task_definition")
    # Taken out so that moto does not rewrite the current deployment's id.
    force_new_deployment = service_properties.pop("force_new_deployment", False)
    # Taken out so that moto does not replace the whole configuration with what was given.
    configuration = service_properties.pop("deployment_configuration", None)
    task_definition = active_task_definition(self, task_definition_str) if task_definition_str else None
    service = self._get_service(
        service_properties.get("cluster", "default"), service_properties["service"].split("/")[-1]
    )
    controller = (service.deployment_controller or {}).get("type", "ECS")
    if task_definition and controller != "ECS":
        raise InvalidParameterException(
            f"Unable to update task definition on services with a {controller} deployment controller. "
            + ("Use AWS CodeDeploy to trigger a new deployment." if controller == "CODE_DEPLOY" else "")
        )
    previous_task_definition = service.task_definition

    service = original_update_service(self, service_properties)
    if task_definition:
        service.task_definition = task_definition.arn  # moto keeps the string as given
    if configuration:
        service.deployment_configuration = {**service.deployment_configuration, **configuration}

    changed = service.task_definition != previous_task_definition
    if service.deployments and (changed or force_new_deployment):
        previous = service.deployments[0]  # the PRIMARY deployment always comes first
        previous["status"] = "ACTIVE"
        previous["updatedAt"] = utcnow()
        service.deployments.insert(
            0, new_deployment(service, previous, service.task_definition, "IN_PROGRESS")
        )
        service._ledger_observed = 0
        if service._ledger_deployment is not None:
            # A deployment replaced by a newer one stops.
            finish_service_deployment(
                service, service._ledger_deployment, "STOPPED", "Replaced by a newer service deployment."
            )
        sources = [service._ledger_revision]
        service._ledger_revision = service_revision_arn(service)
        service._ledger_deployment = start_service_deployment(service, sources)
    return service


def describe_services(self, cluster_str, service_names_or_arns):
    """DescribeServices: each call observes the rollout of every service it answers for."""
    services, failures = original_describe_services(self, cluster_str, service_names_or_arns)
    for service in services:
        observe(service)
    return services, failures


def end_rollout(service, outcome, reason=CIRCUIT_BREAKER_REASON, why="tasks failed to start."):
    """The service's `deployments` once its rollout ends: "complete", "fail" (stays
    PRIMARY, FAILED) or "rollback" (the last COMPLETED revision comes back)."""
    primary = service.deployments[0]  # the PRIMARY deployment always comes first
    prefix = f"(service {service.name})"
    primary["pendingCount"] = 0
    primary["updatedAt"] = utcnow()
    service._ledger_observed = None

    if outcome == "complete":
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["runningCount"] = primary["desiredCount"]
        service.deployments = [primary]  # the older deployments are drained
        service.running_count = primary["desiredCount"]
        service.pending_count = 0
        service._ledger_steady_task_definition = primary["taskDefinition"]
        service._ledger_steady_revision = service._ledger_revision
        add_event(service, f"{prefix} (deployment {primary['id']}) deployment completed.")
        add_event(service, f"{prefix} has reached a steady state.")
        return

    # "fail" and "rollback": the deployment is stopped (by the circuit breaker, an alarm, a
    # lifecycle hook or a request).
    primary["rolloutState"] = "FAILED"
    primary["rolloutStateReason"] = reason
    primary["runningCount"] = 0
    primary["failedTasks"] = primary["desiredCount"]
    add_event(service, f"{prefix} (deployment {primary['id']}) deployment failed: {why}")
    if outcome == "fail":
        return  # no rollback: the failed deployment stays PRIMARY

    # "rollback": a new PRIMARY deployment runs the last task definition that
    # completed; the failed deployment stays ACTIVE and the older ones are gone.
    primary["status"] = "ACTIVE"
    rollback = new_deployment(service, primary, service._ledger_steady_task_definition, "COMPLETED")
    service.deployments = [rollback, primary]
    service.task_definition = rollback["taskDefinition"]
    service._ledger_revision = service._ledger_steady_revision
    service.running_count = rollback["runningCount"]
    service.pending_count = 0
    add_event(service, f"{prefix} rolling back to deployment {rollback['id']}.")


EC2ContainerServiceBackend.create_service = create_service
EC2ContainerServiceResponse.create_service = create_service_response
EC2ContainerServiceBackend.update_service = update_service
EC2ContainerServiceBackend.describe_services = describe_services

# ---------------------------------------------------------------------------
# Service deployments (ListServiceDeployments, DescribeServiceDeployments), which
# moto 5.2.5 does not have. Every deployment UpdateService starts has one, kept in
# `service_deployments` (ARN -> the record as DescribeServiceDeployments answers it).
# A service carries the one in progress as `_ledger_deployment` (None once it ended),
# the revision it runs as `_ledger_revision` and the last that completed as
# `_ledger_steady_revision`.
#
# A rollout moves on each time it is observed (a DescribeServices call naming its
# service, or a DescribeServiceDeployments call naming its deployment):
#   ROLLING: IN_PROGRESS for `steps` observations, then the policy's outcome;
#   BLUE_GREEN, LINEAR, CANARY: one lifecycle stage per observation, through
#       `stages()` (BAKE_TIME `bake_steps` times when the service has a bake time),
#       then SUCCESSFUL; a failing outcome ends it at its stage.
# ---------------------------------------------------------------------------

service_deployments = {}

DEFAULT_DEPLOYMENT_CONFIGURATION = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "strategy": "ROLLING",
}
# The failures that trip the circuit breaker (ECS: from 3 to 200, by desired count).
CIRCUIT_BREAKER_THRESHOLD = 3
TERMINAL = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")


def deployment_configuration(given):
    """What ECS keeps of a service's deploymentConfiguration: the defaults, overridden by
    what was given."""
    return {**DEFAULT_DEPLOYMENT_CONFIGURATION, **(given or {})}


def nineteen_digits():
    return str(random.randrange(10**18, 10**19))


def service_revision_arn(service):
    return (
        f"arn:aws:ecs:{service.region_name}:{service._account_id}:service-revision/"
        f"{service.cluster_name}/{service.name}/{nineteen_digits()}"
    )


def revision_summary(arn, requested, running):
    return {
        "arn": arn,
        "requestedTaskCount": requested,
        "runningTaskCount": running,
        "pendingTaskCount": requested - running,
    }


def start_service_deployment(service, sources):
    """The service deployment of a rollout UpdateService (or CreateService) started."""
    configuration = service.deployment_configuration
    breaker = configuration.get("deploymentCircuitBreaker") or {}
    alarms = configuration.get("alarms") or {}
    now = utcnow()
    arn = (
        f"arn:aws:ecs:{service.region_name}:{service._account_id}:service-deployment/"
        f"{service.cluster_name}/{service.name}/{nineteen_digits()}"
    )
    record = {
        "serviceDeploymentArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": now,
        "startedAt": now,
        "updatedAt": now,
        "sourceServiceRevisions": [
            revision_summary(source, service.desired_count, service.desired_count) for source in sources
        ],
        "targetServiceRevision": revision_summary(service._ledger_revision, service.desired_count, 0),
        "status": "IN_PROGRESS",
        "deploymentConfiguration": configuration,
        "deploymentCircuitBreaker": {
            "status": "MONITORING" if breaker.get("enable") else "DISABLED",
            "failureCount": 0,
            "threshold": CIRCUIT_BREAKER_THRESHOLD,
        },
        "alarms": {
            "status": "MONITORING" if alarms.get("enable") else "DISABLED",
            "alarmNames": list(alarms.get("alarmNames") or []),
            "triggeredAlarmNames": [],
        },
    }
    if strategy_of(service) != "ROLLING":
        record["lifecycleStage"] = "RECONCILE_SERVICE"
    service_deployments[arn] = record
    service.current_service_deployment = arn
    return record


def finish_service_deployment(service, record, status, reason=None):
    now = utcnow()
    record["status"] = status
    record["updatedAt"] = record["finishedAt"] = now
    if reason:
        record["statusReason"] = reason
    if status == "STOPPED":
        record["stoppedAt"] = now
    for monitor in (record["deploymentCircuitBreaker"], record["alarms"]):
        if monitor["status"] == "MONITORING":
            monitor["status"] = "MONITORING_COMPLETE"
    target = record["targetServiceRevision"]
    if status == "SUCCESSFUL":
        target["runningTaskCount"], target["pendingTaskCount"] = target["requestedTaskCount"], 0
    if service._ledger_deployment is record:
        service._ledger_deployment = None


def strategy_of(service):
    return service.deployment_configuration.get("strategy") or "ROLLING"


def stages(service, policy):
    """The lifecycle stages a BLUE_GREEN, LINEAR or CANARY deployment goes through, one per
    observation: LINEAR shifts production traffic once per stepPercent, CANARY twice."""
    configuration = service.deployment_configuration
    strategy = strategy_of(service)
    if strategy == "LINEAR":
        step = (configuration.get("linearConfiguration") or {}).get("stepPercent") or 10
        shifts = -(-100 // int(step))
    else:
        shifts = 2 if strategy == "CANARY" else 1
    bake = policy["bake_steps"] if (configuration.get("bakeTimeInMinutes") or 0) > 0 else 0
    return (
        ["PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT"]
        + ["PRODUCTION_TRAFFIC_SHIFT"] * shifts
        + ["POST_PRODUCTION_TRAFFIC_SHIFT"]
        + ["BAKE_TIME"] * bake
        + ["CLEAN_UP"]
    )


def hook_failing(service, policy):
    """(stage, hook target ARN) of the lifecycle hook a "hook" outcome fails: the policy's
    `stage`, else the first stage of the service's first hook, else POST_SCALE_UP."""
    hooks = service.deployment_configuration.get("lifecycleHooks") or [{}]
    stage = policy["stage"] or (hooks[0].get("lifecycleStages") or ["POST_SCALE_UP"])[0]
    for hook in hooks:
        if stage in (hook.get("lifecycleStages") or []):
            return stage, hook.get("hookTargetArn", "")
    return stage, hooks[0].get("hookTargetArn", "")


def observe(service):
    """One observation of the service's rollout: it moves on as its policy says."""
    record = service._ledger_deployment
    if record is None:
        return
    record["updatedAt"] = utcnow()
    ending = getattr(service, "_ledger_ending", None)
    if ending:  # STOP_REQUESTED or ROLLBACK_IN_PROGRESS a moment ago
        service._ledger_ending = None
        ending()
        return
    # Looked up now, so a test may set the policy before or during the rollout.
    policy = policy_for(service.cluster_name, service.name)
    outcome = policy["outcome"]
    if strategy_of(service) == "ROLLING":
        if service._ledger_observed < policy["steps"]:
            service._ledger_observed += 1
        elif outcome != "never":
            end_service_deployment(service, record, outcome, policy, stage=None)
        return

    plan = stages(service, policy)
    step = service._ledger_observed
    if outcome == "never":
        step = min(step, len(plan) - 2)  # stays before CLEAN_UP
    service._ledger_observed = step + 1
    if step >= len(plan):
        end_service_deployment(service, record, "complete", policy, stage=None)
        return
    stage = plan[step]
    failing_stage = {
        "fail": "POST_SCALE_UP",  # the circuit breaker trips while the new tasks start
        "rollback": "POST_SCALE_UP",
        "alarm": "CLEAN_UP",  # the alarm fires once the bake time has been observed
        "stop": "TEST_TRAFFIC_SHIFT",
        "hook": hook_failing(service, policy)[0],
    }.get(outcome)
    if stage == failing_stage:
        end_service_deployment(service, record, outcome, policy, stage=plan[step - 1] if outcome == "alarm" else stage)
        return
    record["lifecycleStage"] = stage
    if stage in ("POST_SCALE_UP", "TEST_TRAFFIC_SHIFT"):
        target = record["targetServiceRevision"]
        target["runningTaskCount"], target["pendingTaskCount"] = target["requestedTaskCount"], 0


def end_service_deployment(service, record, outcome, policy, stage):
    """Ends the rollout with `outcome`: its service deployment and the service's
    `deployments` say so. A rolling deployment ends at once; a BLUE_GREEN, LINEAR or
    CANARY one is ROLLBACK_IN_PROGRESS (or STOP_REQUESTED) for one more observation."""
    configuration = service.deployment_configuration
    rolling = strategy_of(service) == "ROLLING"
    if stage:
        record["lifecycleStage"] = stage
    if outcome == "complete":
        finish_service_deployment(service, record, "SUCCESSFUL")
        end_rollout(service, "complete")
        return
    if outcome in ("fail", "rollback"):
        reason = CIRCUIT_BREAKER_REASON
        breaker = record["deploymentCircuitBreaker"]
        breaker["status"], breaker["failureCount"] = "TRIGGERED", breaker["threshold"]
        why = "tasks failed to start."
        rolls_back = outcome == "rollback"
    elif outcome == "alarm":
        alarms = record["alarms"]
        name = policy["alarm"] or (alarms["alarmNames"] or ["deployment-alarm"])[0]
        alarms["status"], alarms["triggeredAlarmNames"] = "TRIGGERED", [name]
        reason = f"ECS deployment alarm {name} is in ALARM state."
        why = f"alarm {name} is in ALARM state."
        # Blue/green, linear and canary deployments always go back to the blue revision.
        rolls_back = not rolling or bool((configuration.get("alarms") or {}).get("rollback"))
    elif outcome == "hook":
        hook_stage, hook_arn = hook_failing(service, policy)
        reason = f"ECS deployment lifecycle hook {hook_arn} failed at lifecycle stage {hook_stage}."
        why = f"lifecycle hook failed at {hook_stage}."
        rolls_back = True
    else:  # "stop"
        reason = "ECS deployment stopped: a StopServiceDeployment request stopped it."
        why = "stopped by request."
        rolls_back = False

    def finish():
        if rolls_back:
            record["rollback"] = {
                "reason": reason,
                "startedAt": record["updatedAt"],
                "serviceRevisionArn": service._ledger_steady_revision,
            }
            finish_service_deployment(service, record, "ROLLBACK_SUCCESSFUL", reason)
            end_rollout(service, "rollback", reason, why)
        else:
            finish_service_deployment(service, record, "STOPPED", reason)
            end_rollout(service, "fail", reason, why)

    if rolling:
        finish()
        return
    record["status"] = "ROLLBACK_IN_PROGRESS" if rolls_back else "STOP_REQUESTED"
    record["statusReason"] = reason
    service._ledger_ending = finish


def list_service_deployments(self):
    """ListServiceDeployments: the service's deployments, newest first, filtered by
    status and createdAt (before/after, seconds since the epoch, inclusive)."""
    service = self.ecs_backend._get_service(
        self._get_param("cluster", "default"), (self._get_param("service") or "").split("/")[-1]
    )
    wanted = self._get_param("status") or []
    created = self._get_param("createdAt") or {}
    max_results = self._get_param("maxResults") or 20
    if not 1 <= max_results <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")

    def kept(record):
        at = epoch(record["createdAt"])
        return (
            record["serviceArn"] == service.arn
            and (not wanted or record["status"] in wanted)
            and ("after" not in created or at >= epoch(created["after"]))
            and ("before" not in created or at <= epoch(created["before"]))
        )

    records = sorted(
        (record for record in service_deployments.values() if kept(record)),
        key=lambda record: record["createdAt"],
        reverse=True,
    )
    start = int(self._get_param("nextToken") or 0)
    page = records[start : start + max_results]
    answer = {
        "serviceDeployments": [
            {
                key: record[key]
                for key in (
                    "serviceDeploymentArn",
                    "serviceArn",
                    "clusterArn",
                    "startedAt",
                    "createdAt",
                    "finishedAt",
                    "status",
                    "statusReason",
                )
                if key in record
            }
            | {"targetServiceRevisionArn": record["targetServiceRevision"]["arn"]}
            for record in page
        ]
    }
    if start + max_results < len(records):
        answer["nextToken"] = str(start + max_results)
    return ActionResult(answer)


def describe_service_deployments(self):
    """DescribeServiceDeployments: 1 to 20 ARNs; each call observes the rollouts it names."""
    arns = self._get_param("serviceDeploymentArns") or []
    if not 1 <= len(arns) <= 20:
        raise InvalidParameterException("serviceDeploymentArns must contain between 1 and 20 items.")
    found, failures = [], []
    for arn in dict.fromkeys(arns):
        record = service_deployments.get(arn)
        if record is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        owner = next(
            (s for s in self.ecs_backend.services.values() if s._ledger_deployment is record), None
        )
        if owner is not None:
            observe(owner)
        found.append(record)
    return ActionResult({"serviceDeployments": found, "failures": failures})


def epoch(moment):
    """Seconds since the epoch of a timestamp: a number already, or a datetime (moto's own
    are naive, in UTC)."""
    if not isinstance(moment, datetime):
        return float(moment)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


EC2ContainerServiceResponse.list_service_deployments = list_service_deployments
EC2ContainerServiceResponse.describe_service_deployments = describe_service_deployments

# ---------------------------------------------------------------------------
# RegisterTaskDefinition: fields moto 5.2.5 accepts but does not store, so
# DescribeTaskDefinition would not return them. Real ECS keeps them.
# ---------------------------------------------------------------------------

TASK_DEFINITION_FIELDS_MOTO_DROPS = ("enableFaultInjection", "trustedExecutionConfiguration")
original_register_task_definition = EC2ContainerServiceResponse.register_task_definition


def register_task_definition(self):
    result = original_register_task_definition(self)
    task_definition = result.result["taskDefinition"]
    for field in TASK_DEFINITION_FIELDS_MOTO_DROPS:
        value = self._get_param(field)
        if value is not None:
            # moto's serialiser reads a model field from the attribute of that name.
            setattr(task_definition, field, value)
    return result


EC2ContainerServiceResponse.register_task_definition = register_task_definition

# ---------------------------------------------------------------------------
# One-off tasks (RunTask, DescribeTasks), as ledger's `before`, `verify` and
# `ledger run` use them. Policies are set through POST /_ledger/task.
#
# moto's tasks never stop with an exit code of their own choosing. Here a task
# started by RunTask carries (not part of the ECS model, so moto never
# serialises them):
#   _ledger_observed: how many DescribeTasks calls have seen it RUNNING;
#   _ledger_policy: how it ends, looked up by (cluster, family) at RunTask;
#   _ledger_status: the status DescribeTasks reports, over moto's own.
# Once `steps` DescribeTasks calls have seen it RUNNING, it is STOPPED with the
# policy's stop code and reason, and its (first) container's exit code.
# A cluster without container instances runs tasks as moto runs Fargate ones
# (the emulator has no instances to place them on).
# ---------------------------------------------------------------------------

DEFAULT_TASK_POLICY = {
    "exit_code": 0,
    "steps": 2,
    "stop_code": "EssentialContainerExited",
    "stopped_reason": "Essential container in task exited",
}

# (cluster name, task definition family) -> policy; either may be "*".
task_policies = {}


def task_policy_for(cluster, family):
    """The most specific task policy set for a family, else the default."""
    return most_specific(task_policies, cluster, family, DEFAULT_TASK_POLICY)


original_run_task = EC2ContainerServiceBackend.run_task
original_describe_tasks = EC2ContainerServiceBackend.describe_tasks
original_task_last_status = Task.last_status


def run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type, *args, **kwargs):
    """RunTask: each task started ends as its family's policy says."""
    cluster_name = cluster_str.split("/")[-1]
    active_task_definition(self, task_definition_str)
    if not self.container_instances.get(cluster_name) and launch_type != "FARGATE":
        launch_type = "FARGATE"
    tasks = original_run_task(
        self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type, *args, **kwargs
    )
    for task in tasks:
        family = self.describe_task_definition(task.task_definition_arn).family
        task._ledger_observed = 0
        task._ledger_policy = task_policy_for(task.cluster_name, family)
        task._ledger_status = "PENDING"
        for container in task.containers:
            container.last_status = "PENDING"
            container.exitCode = None
    return tasks


def describe_tasks(self, cluster_str, tasks):
    """DescribeTasks: a task stops once `steps` calls have seen it RUNNING."""
    described = original_describe_tasks(self, cluster_str, tasks)
    for task in described:
        policy = getattr(task, "_ledger_policy", None)
        if policy is None or task._ledger_status == "STOPPED":
            continue
        if task._ledger_observed < policy["steps"]:
            task._ledger_observed += 1
            task._ledger_status = "RUNNING"
            for container in task.containers:
                container.last_status = "RUNNING"
            continue
        task._ledger_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stop_code = policy["stop_code"]
        task.stopped_reason = policy["stopped_reason"]
        for index, container in enumerate(task.containers):
            container.last_status = "STOPPED"
            container.exitCode = policy["exit_code"] if index == 0 else None
    return described


def task_last_status(self):
    return getattr(self, "_ledger_status", None) or original_task_last_status.fget(self)


EC2ContainerServiceBackend.run_task = run_task
EC2ContainerServiceBackend.describe_tasks = describe_tasks
Task.last_status = property(task_last_status, original_task_last_status.fset)


def parse_task_policy(body):
    """The ((cluster, family), policy) a POST /_ledger/task body sets."""
    fields = json_object(body, {"cluster", "family", "exit_code", "steps", "stop_code", "stopped_reason"})
    names = policy_key(fields, ("cluster", "family"))
    exit_code = fields.get("exit_code", DEFAULT_TASK_POLICY["exit_code"])
    if exit_code is not None and type(exit_code) is not int:
        raise BadRequest("exit_code must be an integer or null")
    policy = {"exit_code": exit_code, "steps": count_field(fields, "steps", DEFAULT_TASK_POLICY["steps"])}
    for field in ("stop_code", "stopped_reason"):
        value = fields.get(field, DEFAULT_TASK_POLICY[field])
        if not isinstance(value, str) or not value:
            raise BadRequest(f"{field} must be a non-empty string")
        policy[field] = value
    return names, policy


# ---------------------------------------------------------------------------
# CodeDeploy deployments of ECS services (CreateDeployment, GetDeployment,
# BatchGetDeployments). Policies are set through POST /_ledger/codedeploy.
#
# moto 5.2.5's CodeDeploy deployments stay "Created" for ever, with an empty
# errorInformation and rollbackInfo, and ids that are UUIDs. Here a deployment
# gets an id as CodeDeploy's ("d-" and nine letters or digits) and carries (not
# part of the model moto serialises):
#   _ledger_observed: how many GetDeployment / BatchGetDeployments calls have seen it;
#   _ledger_policy: how it ends, looked up by (application, deployment group) at
#       CreateDeployment;
#   _ledger_error, _ledger_rollback: its errorInformation and rollbackInfo.
# It is InProgress for `steps` observations, then ends: "succeed" (Succeeded; the
# ECS services of its deployment group, its ecsServices, run the AppSpec's task
# definition), "fail" (Failed, the services unchanged), "rollback" (Stopped, rolled
# back by CodeDeploy: the services keep the task definition they ran), "ready"
# (Ready: waiting for the traffic to be rerouted by hand, for ever) or "never"
# (InProgress for ever).
# ---------------------------------------------------------------------------

CODEDEPLOY_OUTCOMES = ("succeed", "fail", "rollback", "ready", "never")
DEFAULT_CODEDEPLOY_POLICY = {
    "outcome": "succeed",
    "steps": 2,
    "error_code": "HEALTH_CONSTRAINTS",
    "message": "The overall deployment failed because too many individual instances failed deployment.",
}

# (application, deployment group) -> policy; the group may be "*".
codedeploy_policies = {}


def codedeploy_policy_for(application, group):
    return (
        codedeploy_policies.get((application, group))
        or codedeploy_policies.get((application, "*"))
        or DEFAULT_CODEDEPLOY_POLICY
    )


def deployment_info_init(self, application, deployment_group, *args, **kwargs):
    original_deployment_info_init(self, application, deployment_group, *args, **kwargs)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    self.deployment_id = "d-" + "".join(random.choice(alphabet) for _ in range(9))
    self._ledger_observed = 0
    self._ledger_policy = codedeploy_policy_for(application.application_name, deployment_group.deployment_group_name)
    self._ledger_error = {}
    self._ledger_rollback = {}


def appspec_task_definition(revision):
    """The TaskDefinition an AppSpecContent revision (JSON) names, if any."""
    try:
        spec = json.loads(((revision or {}).get("appSpecContent") or {}).get("content") or "")
        return spec["Resources"][0]["TargetService"]["Properties"]["TaskDefinition"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def deploy_to_ecs_services(backend, deployment):
    """The ECS services of the deployment's group run the AppSpec's task definition."""
    task_definition = appspec_task_definition(deployment.revision)
    if not task_definition:
        return
    ecs = ecs_backends[backend.account_id][backend.region_name]
    for named in deployment.deployment_group.ecs_services:
        service = ecs._get_service(named["clusterName"], named["serviceName"])
        service.task_definition = task_definition
        if service.deployments:
            primary = service.deployments[0]
            primary["taskDefinition"] = task_definition
            primary["updatedAt"] = utcnow()
        service._ledger_steady_task_definition = task_definition
        add_event(service, f"(service {service.name}) updated by CodeDeploy deployment {deployment.deployment_id}.")


def observe_codedeploy(backend, deployment):
    """One look at a deployment moves it on (see above)."""
    if deployment.status in ("Succeeded", "Failed", "Stopped", "Ready"):
        return
    policy = deployment._ledger_policy
    if deployment.start_time is None:
        deployment.start_time = utcnow()
    if policy["outcome"] == "never" or deployment._ledger_observed < policy["steps"]:
        deployment._ledger_observed += 1
        deployment.status = "InProgress"
        return
    outcome = policy["outcome"]
    if outcome == "ready":
        deployment.status = "Ready"
        return
    deployment.complete_time = utcnow()
    if outcome == "succeed":
        deployment.status = "Succeeded"
        deploy_to_ecs_services(backend, deployment)
        return
    deployment.status = "Failed" if outcome == "fail" else "Stopped"
    deployment._ledger_error = {"code": policy["error_code"], "message": policy["message"]}
    if outcome == "rollback":
        deployment._ledger_rollback = {
            "rollbackMessage": f"Deployment {deployment.deployment_id} was rolled back: {policy['message']}",
        }


def codedeploy_get_deployment(self, deployment_id):
    deployment = original_codedeploy_get_deployment(self, deployment_id)
    observe_codedeploy(self, deployment)
    return deployment


def codedeploy_batch_get_deployments(self, deployment_ids):
    deployments = original_codedeploy_batch_get_deployments(self, deployment_ids)
    for deployment in deployments:
        observe_codedeploy(self, deployment)
    return deployments


def codedeploy_deployment_info(deployment):
    info = original_codedeploy_deployment_info(deployment)
    info["errorInformation"] = getattr(deployment, "_ledger_error", {})
    info["rollbackInfo"] = getattr(deployment, "_ledger_rollback", {})
    return info


original_deployment_info_init = DeploymentInfo.__init__
original_codedeploy_get_deployment = CodeDeployBackend.get_deployment
original_codedeploy_batch_get_deployments = CodeDeployBackend.batch_get_deployments
original_codedeploy_deployment_info = moto.codedeploy.responses._deployment_info
DeploymentInfo.__init__ = deployment_info_init
CodeDeployBackend.get_deployment = codedeploy_get_deployment
CodeDeployBackend.batch_get_deployments = codedeploy_batch_get_deployments
moto.codedeploy.responses._deployment_info = codedeploy_deployment_info


def parse_codedeploy_policy(body):
    """The ((application, deployment group), policy) a POST /_ledger/codedeploy body sets."""
    fields = json_object(body, {"application", "deployment_group", "outcome", "steps", "error_code", "message"})
    names = policy_key(fields, ("application", "deployment_group"))
    outcome = fields.get("outcome")
    if outcome not in CODEDEPLOY_OUTCOMES:
        raise BadRequest(f"outcome must be one of {list(CODEDEPLOY_OUTCOMES)}")
    policy = {"outcome": outcome, "steps": count_field(fields, "steps", DEFAULT_CODEDEPLOY_POLICY["steps"])}
    for field in ("error_code", "message"):
        value = fields.get(field, DEFAULT_CODEDEPLOY_POLICY[field])
        if not isinstance(value, str) or not value:
            raise BadRequest(f"{field} must be a non-empty string")
        policy[field] = value
    return names, policy


# ---------------------------------------------------------------------------
# The WSGI front: /_ledger/ control routes, and a count of the AWS calls.
# ---------------------------------------------------------------------------

# "Credential=AKID/20240101/us-east-1/ecs/aws4_request": the signing name, "ecs".
CREDENTIAL_SERVICE = re.compile(r"Credential=[^/]*/[^/]*/[^/]*/([^/]*)/")


def call_name(environ):
    """The name an AWS request is counted under, "service:Action", e.g. "ecs:UpdateService".

    The service is the SigV4 signing name ("unsigned" without one). The action
    comes from X-Amz-Target (JSON protocols: ECS, SSM, ECR), else the Action
    parameter (query protocol: STS); S3's (REST) is told by the method and query.
    """
    match = CREDENTIAL_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1) if match else "unsigned"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)  # put the body back for moto
        params.update(parse_qs(body.decode("utf-8")))
    if service == "s3":
        return f"s3:{s3_action(environ['REQUEST_METHOD'], environ.get('PATH_INFO', '/'), params)}"
    action = params.get("Action", [environ["REQUEST_METHOD"]])[0]
    return f"{service}:{action}"


def s3_action(method, path, params):
    """The S3 action of a path-style REST request: on the service, a bucket or an object."""
    segments = [segment for segment in path.split("/") if segment]
    if not segments:
        return "ListBuckets"
    if len(segments) == 1:
        if method == "GET":
            return "ListObjectsV2" if "list-type" in params else "ListObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(method, method)
    return {"GET": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject", "HEAD": "HeadObject"}.get(
        method, method
    )


class BadRequest(Exception):
    pass


def json_object(body, allowed):
    """The JSON object a control route's body holds; refused with a field outside `allowed`."""
    try:
        fields = json.loads(body)
    except ValueError:
        raise BadRequest("body is not JSON")
    if not isinstance(fields, dict):
        raise BadRequest("body is not a JSON object")
    unknown = set(fields) - set(allowed)
    if unknown:
        raise BadRequest(f"unknown fields: {sorted(unknown)}")
    return fields


def policy_key(fields, names):
    """The names `fields` gives for `names`: non-empty strings ("*" or a name; an ARN names
    the resource its last segment names)."""
    key = []
    for field in names:
        name = fields.get(field)
        if not isinstance(name, str) or not name:
            raise BadRequest(f"{field} must be a non-empty string")
        key.append(name.split("/")[-1])
    return tuple(key)


def count_field(fields, field, default):
    """Field `field` of `fields` (else `default`), a non-negative integer."""
    value = fields.get(field, default)
    if type(value) is not int or value < 0:
        raise BadRequest(f"{field} must be a non-negative integer")
    return value


def parse_rollout_policy(body):
    """The ((cluster, service), policy) a POST /_ledger/rollout body sets."""
    fields = json_object(body, {"cluster", "service", "outcome", "steps", "bake_steps", "alarm", "stage"})
    names = policy_key(fields, ("cluster", "service"))
    outcome = fields.get("outcome")
    if outcome not in OUTCOMES:
        raise BadRequest(f"outcome must be one of {list(OUTCOMES)}")
    policy = {"outcome": outcome}
    for field in ("steps", "bake_steps"):
        policy[field] = count_field(fields, field, DEFAULT_POLICY[field])
    for field in ("alarm", "stage"):
        value = fields.get(field)
        if value is not None and (not isinstance(value, str) or not value):
            raise BadRequest(f"{field} must be a non-empty string")
        policy[field] = value
    return names, policy


def parse_denied(body):
    """The actions a POST /_ledger/deny body names."""
    try:
        fields = json.loads(body)
    except ValueError:
        raise BadRequest("body is not JSON")
    if not isinstance(fields, dict) or set(fields) != {"actions"}:
        raise BadRequest('body must be {"actions": [...]}')
    actions = fields["actions"]
    if not isinstance(actions, list) or not all(isinstance(a, str) and ":" in a for a in actions):
        raise BadRequest('actions must be a list of "service:Action" names')
    return set(actions)


class LedgerApp:
    def __init__(self, moto_app):
        self.moto_app = moto_app
        self.calls = Counter()
        # "service:Action" names answered AccessDeniedException (POST /_ledger/deny).
        self.denied = set()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_ledger/"):
            status, body = self.control(environ)
            payload = json.dumps(body, sort_keys=True).encode()
            start_response(
                status,
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        name = call_name(environ)
        self.calls[name] += 1
        if name in self.denied:
            # As an IAM policy without the action answers (JSON protocols).
            payload = json.dumps(
                {
                    "__type": "AccessDeniedException",
                    "message": f"User: arn:aws:iam::123456789012:user/moto is not authorized to perform: {name}",
                }
            ).encode()
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        return self.moto_app(environ, start_response)

    def control(self, environ):
        route = (environ["REQUEST_METHOD"], environ["PATH_INFO"])
        if route == ("POST", "/_ledger/rollout"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                key, policy = parse_rollout_policy(body)
            except BadRequest as error:
                return "400 Bad Request", {"error": str(error)}
            rollout_policies[key] = policy
            return "200 OK", {}
        if route == ("POST", "/_ledger/deny"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                self.denied = parse_denied(body)
            except BadRequest as error:
                return "400 Bad Request", {"error": str(error)}
            return "200 OK", {}
        if route == ("POST", "/_ledger/task"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                key, policy = parse_task_policy(body)
            except BadRequest as error:
                return "400 Bad Request", {"error": str(error)}
            task_policies[key] = policy
            return "200 OK", {}
        if route == ("POST", "/_ledger/codedeploy"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            try:
                key, policy = parse_codedeploy_policy(body)
            except BadRequest as error:
                return "400 Bad Request", {"error": str(error)}
            codedeploy_policies[key] = policy
            return "200 OK", {}
        if route == ("GET", "/_ledger/calls"):
            return "200 OK", dict(self.calls)
        if route == ("POST", "/_ledger/calls/reset"):
            self.calls.clear()
            return "200 OK", {}
        return "404 Not Found", {"error": f"no route {route[0]} {route[1]}"}


# ---------------------------------------------------------------------------


def exit_at_stdin_eof():
    try:
        while os.read(sys.stdin.fileno(), 4096):
            pass
    finally:
        # At EOF, or if there is no stdin to read. os._exit, not sys.exit:
        # the main thread is blocked in serve_forever().
        os._exit(0)


def write_port_file(path, port):
    # Written aside then renamed, so a reader never sees a partial file.
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as file:
        file.write(str(port))
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True, help="where to write the bound port")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args()

    threading.Thread(target=exit_at_stdin_eof, daemon=True).start()
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = LedgerApp(DomainDispatcherApplication(create_backend_app))
    # Not threaded: one request at a time, each handled atomically.
    server = make_server("127.0.0.1", args.port, app, threaded=False, request_handler=MotoRequestHandler)
    # moto builds some URLs (S3, SQS...) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.port)
    # The socket is listening already: connections queue until serve_forever().
    write_port_file(args.port_file, server.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
