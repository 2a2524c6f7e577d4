"""Check tests/moto/server.py: start it, exercise it with boto3, stop it.

    target/moto-venv/bin/python tests/moto/check.py  (the virtualenv scripts/test makes)

Prints one line per check; exits non-zero if any check fails.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions

SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "server.py")
ACCOUNT = "123456789012"
CLUSTER = "ledger"
# The launcher's port and URL, set by main() once it is up.
PORT = ENDPOINT = None

CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


# --- the launcher ----------------------------------------------------------


def start_server(directory):
    port_file = os.path.join(directory, "port")
    process = subprocess.Popen([sys.executable, SERVER, "--port-file", port_file], stdin=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not os.path.exists(port_file):
        if process.poll() is not None:
            raise SystemExit(f"server.py exited with {process.returncode} before writing its port")
        if time.monotonic() > deadline:
            process.kill()
            raise SystemExit("server.py wrote no port file within 60s")
        time.sleep(0.05)
    with open(port_file) as file:
        return process, file.read()


def client(service, **config):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries={"max_attempts": 1}, **config),
    )


def control(method, path, body=None):
    """(status, JSON answer) of a /_ledger/ route."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(ENDPOINT + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def set_rollout(service, outcome, steps=None, **extra):
    body = {"cluster": CLUSTER, "service": service, "outcome": outcome, **extra}
    if steps is not None:
        body["steps"] = steps
    assert control("POST", "/_ledger/rollout", body) == (200, {})


def expect_client_error(call, code, message):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        got = (error.response["Error"]["Code"], error.response["Error"]["Message"])
        assert got == (code, message), f"got {got}"
    else:
        raise AssertionError(f"expected {code} {message!r}")


# --- ECS helpers -----------------------------------------------------------

DEPLOYMENT_ID = re.compile(r"^ecs-svc/\d{19}$")


def register(family, image):
    ecs = client("ecs")
    definition = ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": image, "memory": 128}],
    )
    return definition["taskDefinition"]["taskDefinitionArn"]


def create_service(name, desired=2, **extra):
    """A service running a fresh "NAME:1"; returns (service, its task definition)."""
    arn = register(name, "app:1")
    service = client("ecs").create_service(
        cluster=CLUSTER, serviceName=name, taskDefinition=arn, desiredCount=desired, **extra
    )["service"]
    return service, arn


def update(name, task_definition=None, **extra):
    if task_definition:
        extra["taskDefinition"] = task_definition
    return client("ecs").update_service(cluster=CLUSTER, service=name, **extra)["service"]


def describe(name):
    return client("ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]


def summary(deployment):
    """The fields of a deployment the rollout checks compare."""
    keys = (
        "status",
        "taskDefinition",
        "rolloutState",
        "rolloutStateReason",
        "desiredCount",
        "runningCount",
        "pendingCount",
    )
    return {key: deployment.get(key) for key in keys}


def in_progress(deployment_id, task_definition, desired=2):
    return {
        "status": "PRIMARY",
        "taskDefinition": task_definition,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
        "desiredCount": desired,
        "runningCount": 0,
        "pendingCount": desired,
    }


def messages(service):
    return [event["message"] for event in service["events"]]


def start_rollout(name):
    """Update service NAME to a new revision; returns (old ARN, new ARN, new deployment id)."""
    _, old = create_service(name)
    new = register(name, "app:2")
    service = update(name, new)
    primary = service["deployments"][0]
    assert summary(primary) == in_progress(primary["id"], new), summary(primary)
    return old, new, primary["id"]


def observe_in_progress(name, deployment_id, new, times):
    for _ in range(times):
        primary = describe(name)["deployments"][0]
        assert summary(primary) == in_progress(deployment_id, new), summary(primary)


# --- checks ----------------------------------------------------------------

# A task definition with every field RegisterTaskDefinition takes, shared with the end-to-end
# test that checks an apply keeps them all (tests/tests/ecs.rs).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "full_task_definition.json")) as file:
    FULL_TASK_DEFINITION = json.load(file)
# Fields moto is patched to keep that the ECS SDK ledger builds with cannot send: checked here only.
FULL_TASK_DEFINITION["inferenceAccelerators"] = [{"deviceName": "device1", "deviceType": "eia2.medium"}]
FULL_TASK_DEFINITION["trustedExecutionConfiguration"] = {"isolationMode": "SHARED"}
# What ECS adds to a container definition that leaves these out.
CONTAINER_DEFAULTS = {
    "cpu": 0,
    "portMappings": [],
    "essential": True,
    "environment": [],
    "mountPoints": [],
    "volumesFrom": [],
}


@check
def task_definition_round_trip():
    ecs = client("ecs")
    ecs.register_task_definition(**FULL_TASK_DEFINITION)
    described = ecs.describe_task_definition(taskDefinition="full", include=["TAGS"])
    definition = described["taskDefinition"]
    expected = {key: value for key, value in FULL_TASK_DEFINITION.items() if key != "tags"}
    expected["containerDefinitions"] = [
        {**CONTAINER_DEFAULTS, **container} for container in FULL_TASK_DEFINITION["containerDefinitions"]
    ]
    differences = [key for key in expected if definition.get(key) != expected[key]]
    assert not differences, f"fields dropped or altered: {differences}"
    assert described["tags"] == FULL_TASK_DEFINITION["tags"], described["tags"]
    assert definition["taskDefinitionArn"] == f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/full:1"
    assert (definition["revision"], definition["status"]) == (1, "ACTIVE")


@check
def deregistered_task_definition_is_inactive_and_describable():
    ecs = client("ecs")
    arn = register("retired", "app:1")
    assert ecs.deregister_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == "INACTIVE"


@check
def create_service_has_one_completed_primary_deployment():
    service, arn = create_service("created", desired=3)
    (deployment,) = service["deployments"]
    assert DEPLOYMENT_ID.match(deployment["id"]), deployment["id"]
    assert summary(deployment) == {
        "status": "PRIMARY",
        "taskDefinition": arn,
        "rolloutState": "COMPLETED",
        "rolloutStateReason": f"ECS deployment {deployment['id']} completed.",
        "desiredCount": 3,
        "runningCount": 3,
        "pendingCount": 0,
    }, summary(deployment)
    assert deployment["createdAt"] and deployment["updatedAt"]
    assert (service["runningCount"], service["pendingCount"]) == (3, 0)
    assert describe("created")["deployments"] == service["deployments"]


@check
def inactive_task_definition_is_refused():
    _, arn = create_service("refusing")
    retired = register("refusing", "app:2")
    client("ecs").deregister_task_definition(taskDefinition=retired)
    expect_client_error(lambda: update("refusing", retired), "ClientException", "TaskDefinition is inactive")
    expect_client_error(
        lambda: client("ecs").create_service(
            cluster=CLUSTER, serviceName="refused", taskDefinition=retired, desiredCount=1
        ),
        "ClientException",
        "TaskDefinition is inactive",
    )
    assert describe("refusing")["taskDefinition"] == arn


@check
def update_service_starts_a_new_primary_deployment():
    service, old = create_service("updated")
    first = service["deployments"][0]["id"]
    new = register("updated", "app:2")
    # A revision given as family:revision is stored as its ARN, as ECS does.
    service = update("updated", "updated:2")
    primary, previous = service["deployments"]
    assert DEPLOYMENT_ID.match(primary["id"]) and primary["id"] != first
    assert summary(primary) == in_progress(primary["id"], new), summary(primary)
    assert (previous["id"], previous["status"], previous["taskDefinition"]) == (first, "ACTIVE", old)
    assert service["taskDefinition"] == new


@check
def update_without_a_new_revision_starts_no_deployment():
    service, _ = create_service("scaled")
    service_after = update("scaled", desiredCount=4)
    assert [d["id"] for d in service_after["deployments"]] == [service["deployments"][0]["id"]]


@check
def force_new_deployment_starts_a_new_primary_deployment():
    service, arn = create_service("forced")
    first = service["deployments"][0]["id"]
    primary, previous = update("forced", forceNewDeployment=True)["deployments"]
    assert summary(primary) == in_progress(primary["id"], arn), summary(primary)
    assert (previous["id"], previous["status"]) == (first, "ACTIVE")


@check
def rollout_completes_after_two_observations_by_default():
    _, new, deployment_id = start_rollout("completing")
    observe_in_progress("completing", deployment_id, new, 2)
    service = describe("completing")
    (primary,) = service["deployments"]
    assert summary(primary) == {
        "status": "PRIMARY",
        "taskDefinition": new,
        "rolloutState": "COMPLETED",
        "rolloutStateReason": f"ECS deployment {deployment_id} completed.",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
    }, summary(primary)
    assert messages(service)[:2] == [
        "(service completing) has reached a steady state.",
        f"(service completing) (deployment {deployment_id}) deployment completed.",
    ], messages(service)
    event = service["events"][0]
    assert event["id"] and event["createdAt"], event
    assert (service["taskDefinition"], service["runningCount"], service["pendingCount"]) == (new, 2, 0)


@check
def rollout_fails_without_rollback():
    set_rollout("failing", "fail", steps=1)
    old, new, deployment_id = start_rollout("failing")
    observe_in_progress("failing", deployment_id, new, 1)
    service = describe("failing")
    primary, previous = service["deployments"]
    assert summary(primary) == {
        "status": "PRIMARY",
        "taskDefinition": new,
        "rolloutState": "FAILED",
        "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
        "desiredCount": 2,
        "runningCount": 0,
        "pendingCount": 0,
    }, summary(primary)
    assert (previous["status"], previous["taskDefinition"]) == ("ACTIVE", old)
    assert (
        messages(service)[0]
        == f"(service failing) (deployment {deployment_id}) deployment failed: tasks failed to start."
    )
    assert service["taskDefinition"] == new


@check
def rollout_rolls_back_to_the_previous_revision():
    set_rollout("rolling-back", "rollback", steps=0)
    old, new, deployment_id = start_rollout("rolling-back")
    service = describe("rolling-back")
    rollback, failed = service["deployments"]
    assert DEPLOYMENT_ID.match(rollback["id"]) and rollback["id"] != deployment_id
    assert summary(rollback) == {
        "status": "PRIMARY",
        "taskDefinition": old,
        "rolloutState": "COMPLETED",
        "rolloutStateReason": f"ECS deployment {rollback['id']} completed.",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
    }, summary(rollback)
    assert failed["id"] == deployment_id
    assert summary(failed) == {
        "status": "ACTIVE",
        "taskDefinition": new,
        "rolloutState": "FAILED",
        "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
        "desiredCount": 2,
        "runningCount": 0,
        "pendingCount": 0,
    }, summary(failed)
    assert messages(service)[:2] == [
        f"(service rolling-back) rolling back to deployment {rollback['id']}.",
        f"(service rolling-back) (deployment {deployment_id}) deployment failed: tasks failed to start.",
    ], messages(service)
    assert service["taskDefinition"] == old


@check
def rollout_never_ends_until_the_policy_changes():
    set_rollout("stuck", "never")
    _, new, deployment_id = start_rollout("stuck")
    observe_in_progress("stuck", deployment_id, new, 5)
    # The policy is read when the outcome would apply: changing it mid-rollout counts.
    set_rollout("stuck", "complete", steps=0)
    assert describe("stuck")["deployments"][0]["rolloutState"] == "COMPLETED"


@check
def rollout_wildcard_is_the_default_for_other_services():
    set_rollout("*", "fail", steps=0)
    set_rollout("exempt", "complete", steps=0)
    try:
        start_rollout("wildcarded")
        start_rollout("exempt")
        assert describe("wildcarded")["deployments"][0]["rolloutState"] == "FAILED"
        assert describe("exempt")["deployments"][0]["rolloutState"] == "COMPLETED"
    finally:
        set_rollout("*", "complete")


@check
def rollout_control_rejects_bad_input():
    good = {"cluster": CLUSTER, "service": "s", "outcome": "fail", "steps": 1}
    bad_bodies = [
        b"not json",
        b"[]",
        {**good, "outcome": "explode"},
        {**good, "steps": -1},
        {**good, "steps": "2"},
        {**good, "service": ""},
        {key: value for key, value in good.items() if key != "cluster"},
        {**good, "colour": "red"},
        {**good, "bake_steps": -1},
        {**good, "alarm": ""},
        {**good, "stage": 3},
    ]
    for body in bad_bodies:
        status, answer = control("POST", "/_ledger/rollout", body)
        assert status == 400 and answer.get("error"), (body, status, answer)
    assert control("GET", "/_ledger/nowhere")[0] == 404


# --- service deployments ---------------------------------------------------

SERVICE_DEPLOYMENT_ARN = re.compile(rf"^arn:aws:ecs:us-east-1:{ACCOUNT}:service-deployment/{CLUSTER}/([a-z-]+)/\d{{19}}$")
BLUE_GREEN = {
    "strategy": "BLUE_GREEN",
    "bakeTimeInMinutes": 5,
    "alarms": {"alarmNames": ["api-5xx", "api-latency"], "enable": True, "rollback": True},
    "lifecycleHooks": [
        {
            "hookTargetArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:smoke",
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/hooks",
            "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
        }
    ],
}


def service_deployments(name, **filters):
    return client("ecs").list_service_deployments(cluster=CLUSTER, service=name, **filters)["serviceDeployments"]


def describe_deployments(*arns):
    return client("ecs").describe_service_deployments(serviceDeploymentArns=list(arns))


def describe_deployment(arn):
    (deployment,) = describe_deployments(arn)["serviceDeployments"]
    return deployment


def start_strategy_rollout(name, configuration):
    """A service with `configuration` updated to a new revision; its service deployment's ARN."""
    create_service(name, deploymentConfiguration=configuration)
    update(name, register(name, "app:2"))
    newest = service_deployments(name)[0]
    assert newest["status"] == "IN_PROGRESS", newest
    return newest["serviceDeploymentArn"]


@check
def deployment_configuration_is_kept_and_merged_by_update():
    service, _ = create_service("configured", deploymentConfiguration=BLUE_GREEN)
    kept = service["deploymentConfiguration"]
    assert {key: kept[key] for key in BLUE_GREEN} == BLUE_GREEN, kept
    assert describe("configured")["deploymentConfiguration"] == kept
    updated = update("configured", deploymentConfiguration={"bakeTimeInMinutes": 1})["deploymentConfiguration"]
    assert updated == {**kept, "bakeTimeInMinutes": 1}, updated
    plain, _ = create_service("unconfigured")
    assert plain["deploymentConfiguration"]["strategy"] == "ROLLING", plain["deploymentConfiguration"]


@check
def code_deploy_services_refuse_a_new_task_definition():
    create_service("blue-green-by-codedeploy", deploymentController={"type": "CODE_DEPLOY"})
    assert describe("blue-green-by-codedeploy")["deploymentController"] == {"type": "CODE_DEPLOY"}
    new = register("blue-green-by-codedeploy", "app:2")
    expect_client_error(
        lambda: update("blue-green-by-codedeploy", new),
        "InvalidParameterException",
        "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
        "Use AWS CodeDeploy to trigger a new deployment.",
    )


def codedeploy_group(name, application="ledger-app"):
    """A CODE_DEPLOY service NAME behind a load balancer, and CodeDeploy deployment group NAME
    of APPLICATION deploying it; returns (its task definition, a new one to deploy)."""
    _, old = create_service(
        name,
        deploymentController={"type": "CODE_DEPLOY"},
        loadBalancers=[{"targetGroupArn": f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:targetgroup/{name}/1", "containerName": "app", "containerPort": 8080}],
    )
    codedeploy = client("codedeploy")
    if application not in codedeploy.list_applications()["applications"]:
        codedeploy.create_application(applicationName=application, computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName=application,
        deploymentGroupName=name,
        serviceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/codedeploy",
        ecsServices=[{"serviceName": name, "clusterName": CLUSTER}],
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )
    return old, register(name, "app:2")


def codedeploy_deploy(name, task_definition, application="ledger-app"):
    appspec = {
        "version": "0.0",
        "Resources": [{"TargetService": {"Type": "AWS::ECS::Service", "Properties": {
            "TaskDefinition": task_definition,
            "LoadBalancerInfo": {"ContainerName": "app", "ContainerPort": 8080},
        }}}],
    }
    return client("codedeploy").create_deployment(
        applicationName=application,
        deploymentGroupName=name,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(appspec)}},
    )["deploymentId"]


def codedeploy_statuses(deployment_id, times):
    codedeploy = client("codedeploy")
    return [codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"] for _ in range(times)]


@check
def codedeploy_deployment_succeeds_after_two_observations_and_the_service_runs_the_appspecs_revision():
    old, new = codedeploy_group("cd-succeed")
    service = describe("cd-succeed")
    assert service["loadBalancers"][0]["containerPort"] == 8080, service["loadBalancers"]
    deployment_id = codedeploy_deploy("cd-succeed", new)
    assert re.fullmatch(r"d-[A-Z0-9]{9}", deployment_id), deployment_id
    infos = codedeploy_statuses(deployment_id, 2)
    assert [i["status"] for i in infos] == ["InProgress", "InProgress"], infos
    assert describe("cd-succeed")["taskDefinition"] == old
    answer = client("codedeploy").batch_get_deployments(deploymentIds=[deployment_id])["deploymentsInfo"]
    assert [(i["deploymentId"], i["status"]) for i in answer] == [(deployment_id, "Succeeded")], answer
    assert describe("cd-succeed")["taskDefinition"] == new


@check
def codedeploy_deployment_fails_or_is_rolled_back_with_its_error_and_the_service_unchanged():
    for outcome, status in (("fail", "Failed"), ("rollback", "Stopped")):
        name = f"cd-{outcome}"
        old, new = codedeploy_group(name)
        status_code, _ = control(
            "POST",
            "/_ledger/codedeploy",
            {"application": "ledger-app", "deployment_group": name, "outcome": outcome, "steps": 1,
             "error_code": "ALARM_ACTIVE", "message": "alarm api-5xx fired"},
        )
        assert status_code == 200
        deployment_id = codedeploy_deploy(name, new)
        infos = codedeploy_statuses(deployment_id, 2)
        assert [i["status"] for i in infos] == ["InProgress", status], infos
        assert infos[1]["errorInformation"] == {"code": "ALARM_ACTIVE", "message": "alarm api-5xx fired"}, infos[1]
        rollback = infos[1].get("rollbackInfo", {})
        if outcome == "rollback":
            assert "rolled back" in rollback["rollbackMessage"], rollback
        else:
            assert not rollback, rollback
        assert describe(name)["taskDefinition"] == old


@check
def codedeploy_deployment_ready_or_never_does_not_end_and_the_wildcard_applies():
    control("POST", "/_ledger/codedeploy", {"application": "other-app", "deployment_group": "*", "outcome": "ready", "steps": 0})
    old, new = codedeploy_group("cd-ready", application="other-app")
    deployment_id = codedeploy_deploy("cd-ready", new, application="other-app")
    assert [i["status"] for i in codedeploy_statuses(deployment_id, 3)] == ["Ready"] * 3
    assert describe("cd-ready")["taskDefinition"] == old
    control("POST", "/_ledger/codedeploy", {"application": "other-app", "deployment_group": "cd-never", "outcome": "never"})
    _, new = codedeploy_group("cd-never", application="other-app")
    deployment_id = codedeploy_deploy("cd-never", new, application="other-app")
    assert {i["status"] for i in codedeploy_statuses(deployment_id, 5)} == {"InProgress"}


@check
def codedeploy_control_rejects_bad_input():
    for body, says in (
        (b"nope", "not JSON"),
        ({"application": "a", "deployment_group": "g", "outcome": "maybe"}, "outcome must be one of"),
        ({"application": "", "deployment_group": "g", "outcome": "fail"}, "application must be"),
        ({"application": "a", "deployment_group": "g", "outcome": "fail", "steps": -1}, "steps must be"),
        ({"application": "a", "deployment_group": "g", "outcome": "fail", "color": 1}, "unknown fields"),
    ):
        status, answer = control("POST", "/_ledger/codedeploy", body)
        assert status == 400 and says in answer["error"], (body, status, answer)


@check
def rolling_update_has_a_service_deployment_listed_newest_first():
    before = time.time() - 1
    _, new, _ = start_rollout("recorded")
    listed = service_deployments("recorded")
    assert [d["status"] for d in listed] == ["IN_PROGRESS", "SUCCESSFUL"], listed  # the update, the creation
    arn = listed[0]["serviceDeploymentArn"]
    assert SERVICE_DEPLOYMENT_ARN.match(arn).group(1) == "recorded", arn
    assert describe("recorded")["currentServiceDeployment"] == arn
    since = service_deployments("recorded", createdAt={"after": before})
    assert len(since) == 2, since
    assert service_deployments("recorded", createdAt={"after": time.time() + 60}) == []
    assert [d["serviceDeploymentArn"] for d in service_deployments("recorded", status=["IN_PROGRESS"])] == [arn]
    deployment = describe_deployment(arn)
    assert deployment["status"] == "IN_PROGRESS" and "lifecycleStage" not in deployment, deployment
    assert deployment["sourceServiceRevisions"][0]["arn"] != deployment["targetServiceRevision"]["arn"]
    # Two observations (default steps), then the rollout completes on the third.
    describe_deployment(arn)
    done = describe_deployment(arn)
    assert (done["status"], done.get("statusReason")) == ("SUCCESSFUL", None), done
    assert done["finishedAt"] and done["targetServiceRevision"]["runningTaskCount"] == 2, done
    assert describe("recorded")["deployments"][0]["rolloutState"] == "COMPLETED"


@check
def circuit_breaker_rollback_is_a_rollback_successful_service_deployment():
    set_rollout("broken", "rollback", steps=0)
    old, _, _ = start_rollout("broken")
    arn = service_deployments("broken")[0]["serviceDeploymentArn"]
    deployment = describe_deployment(arn)
    assert deployment["status"] == "ROLLBACK_SUCCESSFUL", deployment
    assert deployment["statusReason"] == "ECS deployment circuit breaker: tasks failed to start.", deployment
    assert deployment["deploymentCircuitBreaker"]["status"] == "TRIGGERED", deployment
    assert deployment["rollback"]["serviceRevisionArn"] == deployment["sourceServiceRevisions"][0]["arn"]
    assert describe("broken")["taskDefinition"] == old


@check
def circuit_breaker_without_rollback_stops_the_service_deployment():
    set_rollout("stopped-by-breaker", "fail", steps=0)
    start_rollout("stopped-by-breaker")
    arn = service_deployments("stopped-by-breaker")[0]["serviceDeploymentArn"]
    deployment = describe_deployment(arn)
    assert (deployment["status"], deployment["stoppedAt"] is not None) == ("STOPPED", True), deployment
    assert "rollback" not in deployment


@check
def blue_green_goes_through_its_stages_and_bake_time_then_succeeds():
    set_rollout("blue-green", "complete", bake_steps=3)
    arn = start_strategy_rollout("blue-green", BLUE_GREEN)
    seen = []
    while True:
        deployment = describe_deployment(arn)
        if deployment["status"] != "IN_PROGRESS":
            break
        seen.append(deployment["lifecycleStage"])
    assert seen == [
        "PRE_SCALE_UP",
        "SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "BAKE_TIME",
        "BAKE_TIME",
        "CLEAN_UP",
    ], seen
    assert deployment["status"] == "SUCCESSFUL", deployment
    assert deployment["alarms"] == {
        "status": "MONITORING_COMPLETE",
        "alarmNames": ["api-5xx", "api-latency"],
        "triggeredAlarmNames": [],
    }, deployment["alarms"]
    assert describe("blue-green")["deployments"][0]["rolloutState"] == "COMPLETED"


@check
def linear_and_canary_shift_production_traffic_in_steps():
    for name, configuration, shifts in [
        ("linear", {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 25.0}}, 4),
        ("canary", {"strategy": "CANARY"}, 2),
    ]:
        arn = start_strategy_rollout(name, configuration)
        seen = []
        while (deployment := describe_deployment(arn))["status"] == "IN_PROGRESS":
            seen.append(deployment["lifecycleStage"])
        assert seen.count("PRODUCTION_TRAFFIC_SHIFT") == shifts and "BAKE_TIME" not in seen, (name, seen)
        assert deployment["status"] == "SUCCESSFUL", deployment


@check
def alarm_during_bake_time_rolls_back_and_names_the_alarm():
    set_rollout("alarmed", "alarm", alarm="api-latency")
    arn = start_strategy_rollout("alarmed", BLUE_GREEN)
    stages = []
    while (deployment := describe_deployment(arn))["status"] == "IN_PROGRESS":
        stages.append(deployment["lifecycleStage"])
    assert stages[-2:] == ["BAKE_TIME", "BAKE_TIME"], stages
    assert deployment["status"] == "ROLLBACK_IN_PROGRESS", deployment
    deployment = describe_deployment(arn)
    assert deployment["status"] == "ROLLBACK_SUCCESSFUL", deployment
    assert deployment["lifecycleStage"] == "BAKE_TIME", deployment
    assert deployment["alarms"]["status"] == "TRIGGERED", deployment
    assert deployment["alarms"]["triggeredAlarmNames"] == ["api-latency"], deployment
    assert deployment["statusReason"] == "ECS deployment alarm api-latency is in ALARM state.", deployment
    assert deployment["rollback"]["reason"] == deployment["statusReason"]
    service = describe("alarmed")
    assert service["taskDefinition"].endswith("alarmed:1"), service["taskDefinition"]


@check
def failing_lifecycle_hook_rolls_back_at_its_stage():
    set_rollout("hooked", "hook")
    arn = start_strategy_rollout("hooked", BLUE_GREEN)
    while (deployment := describe_deployment(arn))["status"] == "IN_PROGRESS":
        pass
    assert (deployment["status"], deployment["lifecycleStage"]) == (
        "ROLLBACK_IN_PROGRESS",
        "POST_TEST_TRAFFIC_SHIFT",
    ), deployment
    deployment = describe_deployment(arn)
    assert deployment["status"] == "ROLLBACK_SUCCESSFUL", deployment
    assert deployment["statusReason"] == (
        f"ECS deployment lifecycle hook arn:aws:lambda:us-east-1:{ACCOUNT}:function:smoke"
        " failed at lifecycle stage POST_TEST_TRAFFIC_SHIFT."
    ), deployment


@check
def stop_request_stops_the_deployment():
    set_rollout("stopping", "stop")
    arn = start_strategy_rollout("stopping", {"strategy": "BLUE_GREEN"})
    while (deployment := describe_deployment(arn))["status"] == "IN_PROGRESS":
        pass
    assert deployment["status"] == "STOP_REQUESTED", deployment
    deployment = describe_deployment(arn)
    assert (deployment["status"], deployment["stoppedAt"] is not None) == ("STOPPED", True), deployment
    assert "StopServiceDeployment" in deployment["statusReason"], deployment


@check
def describe_service_deployments_takes_1_to_20_and_reports_the_missing():
    arn = service_deployments("recorded")[0]["serviceDeploymentArn"]
    missing = arn[:-1] + ("0" if arn[-1] != "0" else "1")
    answer = describe_deployments(arn, missing)
    assert [d["serviceDeploymentArn"] for d in answer["serviceDeployments"]] == [arn]
    assert answer["failures"] == [{"arn": missing, "reason": "MISSING"}], answer["failures"]
    for arns in ([], [arn] * 21):
        expect_client_error(
            lambda: describe_deployments(*arns),
            "InvalidParameterException",
            "serviceDeploymentArns must contain between 1 and 20 items.",
        )


# --- one-off tasks ---------------------------------------------------------


def run_one_off(family, command):
    """Starts a task of `family`'s latest revision with the command overridden; its ARN."""
    task = client("ecs").run_task(
        cluster=CLUSTER,
        taskDefinition=family,
        overrides={"containerOverrides": [{"name": "app", "command": command}]},
        startedBy="ledger/check",
    )["tasks"][0]
    assert task["lastStatus"] == "PENDING", task["lastStatus"]
    return task["taskArn"]


def describe_task(arn):
    task = client("ecs").describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    container = task["containers"][0]
    return (task["lastStatus"], task.get("stopCode"), container.get("exitCode"))


@check
def task_stops_with_exit_code_0_after_two_observations_by_default():
    register("oneoff", "app:1")
    arn = run_one_off("oneoff", ["migrate"])
    assert describe_task(arn) == ("RUNNING", None, None)
    assert describe_task(arn) == ("RUNNING", None, None)
    assert describe_task(arn) == ("STOPPED", "EssentialContainerExited", 0)
    assert describe_task(arn) == ("STOPPED", "EssentialContainerExited", 0), "it stays stopped"


@check
def task_policy_sets_the_exit_code_steps_and_reason():
    register("migrate", "app:1")
    status, answer = control(
        "POST", "/_ledger/task", {"cluster": CLUSTER, "family": "migrate", "exit_code": 1, "steps": 1}
    )
    assert status == 200, answer
    arn = run_one_off("migrate", ["migrate", "--up"])
    assert describe_task(arn) == ("RUNNING", None, None)
    assert describe_task(arn) == ("STOPPED", "EssentialContainerExited", 1)

    body = {"cluster": CLUSTER, "family": "migrate", "exit_code": None, "steps": 0,
            "stop_code": "TaskFailedToStart", "stopped_reason": "CannotPullContainerError"}
    assert control("POST", "/_ledger/task", body)[0] == 200
    arn = run_one_off("migrate", ["migrate"])
    task = client("ecs").describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == (
        "STOPPED", "TaskFailedToStart", "CannotPullContainerError"), task
    assert "exitCode" not in task["containers"][0], task["containers"][0]
    # A policy for one family leaves the others at the default.
    arn = run_one_off("oneoff", ["true"])
    describe_task(arn), describe_task(arn)
    assert describe_task(arn) == ("STOPPED", "EssentialContainerExited", 0)


@check
def task_control_rejects_bad_input():
    good = {"cluster": CLUSTER, "family": "f", "exit_code": 1, "steps": 1}
    for body in [
        b"not json",
        {**good, "exit_code": "1"},
        {**good, "steps": -1},
        {**good, "family": ""},
        {**good, "stop_code": ""},
        {key: value for key, value in good.items() if key != "family"},
        {**good, "colour": "red"},
    ]:
        status, answer = control("POST", "/_ledger/task", body)
        assert status == 400 and answer.get("error"), (body, status, answer)


@check
def ssm_overwrite_and_history():
    ssm = client("ssm")
    ssm.put_parameter(Name="/ledger/web/release", Value="v1", Type="String")
    assert (
        ssm.put_parameter(Name="/ledger/web/release", Value="v2", Type="String", Overwrite=True)["Version"]
        == 2
    )
    expect_client_error(
        lambda: ssm.put_parameter(Name="/ledger/web/release", Value="v3", Type="String"),
        "ParameterAlreadyExists",
        "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
    )
    history = ssm.get_parameter_history(Name="/ledger/web/release")["Parameters"]
    assert [(p["Version"], p["Value"]) for p in history] == [(1, "v1"), (2, "v2")], history


@check
def other_services_answer():
    assert client("sts").get_caller_identity()["Account"] == ACCOUNT
    ecr = client("ecr")
    ecr.create_repository(repositoryName="web")
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["web"]
    s3 = client("s3")
    s3.create_bucket(Bucket="ledger")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["ledger"]


@check
def calls_are_counted_per_service_and_action():
    assert control("POST", "/_ledger/calls/reset") == (200, {})
    assert control("GET", "/_ledger/calls") == (200, {})
    client("ecs").list_clusters()
    client("ecs").list_clusters()
    client("ssm").get_parameter(Name="/ledger/web/release")
    client("sts").get_caller_identity()
    client("ecr").describe_repositories()
    s3 = client("s3")
    s3.list_buckets()
    s3.create_bucket(Bucket="counted")
    s3.put_object(Bucket="counted", Key="refs/env/a", Body=b"1")
    s3.get_object(Bucket="counted", Key="refs/env/a")
    s3.list_objects_v2(Bucket="counted", Prefix="refs/")
    set_rollout("counted", "complete")  # a control call is not an AWS call
    expected = {
        "ecs:ListClusters": 2,
        "ssm:GetParameter": 1,
        "sts:GetCallerIdentity": 1,
        "ecr:DescribeRepositories": 1,
        "s3:ListBuckets": 1,
        "s3:CreateBucket": 1,
        "s3:PutObject": 1,
        "s3:GetObject": 1,
        "s3:ListObjectsV2": 1,
    }
    assert control("GET", "/_ledger/calls") == (200, expected), control("GET", "/_ledger/calls")


@check
def denied_actions_answer_access_denied_and_are_counted():
    assert control("POST", "/_ledger/deny", {"actions": ["ecs:ListServiceDeployments"]}) == (200, {})
    control("POST", "/_ledger/calls/reset")
    try:
        expect_client_error(
            lambda: service_deployments("recorded"),
            "AccessDeniedException",
            f"User: arn:aws:iam::{ACCOUNT}:user/moto is not authorized to perform: ecs:ListServiceDeployments",
        )
        describe("recorded")  # other actions still answer
        assert control("GET", "/_ledger/calls")[1] == {"ecs:ListServiceDeployments": 1, "ecs:DescribeServices": 1}
    finally:
        assert control("POST", "/_ledger/deny", {"actions": []}) == (200, {})
    assert service_deployments("recorded")
    for body in (b"[]", {"actions": "ecs:X"}, {"actions": ["nocolon"]}, {"actions": [], "more": 1}):
        status, answer = control("POST", "/_ledger/deny", body)
        assert status == 400 and answer.get("error"), (body, status, answer)


@check
def listens_on_loopback_only():
    port = int(PORT)
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    # Columns: sl, local address (hex IP:port), remote address, state (0A = LISTEN), ...
    listening = [row[1] for row in rows if row[3] == "0A" and int(row[1].split(":")[1], 16) == port]
    assert listening == [f"0100007F:{port:04X}"], listening
    assert not os.path.exists("/proc/net/tcp6") or f":{port:04X} " not in open("/proc/net/tcp6").read()


@check
def serves_one_request_at_a_time():
    # A connection whose request is not complete holds the server: a second call waits.
    blocker = socket.create_connection(("127.0.0.1", int(PORT)))
    blocker.sendall(b"GET /_ledger/calls HTTP/1.0\r\n")
    quick = client("sts", connect_timeout=1, read_timeout=1)
    try:
        quick.get_caller_identity()
    except botocore.exceptions.ReadTimeoutError:
        pass
    else:
        raise AssertionError("a second request was served while the first was incomplete")
    finally:
        blocker.close()
    assert client("sts").get_caller_identity()["Account"] == ACCOUNT


def main():
    global ENDPOINT, PORT
    with tempfile.TemporaryDirectory() as directory:
        process, PORT = start_server(directory)
        ok = re.fullmatch(r"[1-9][0-9]*", PORT) and os.listdir(directory) == ["port"]
        print(f"{'ok  ' if ok else 'FAIL'} port file holds only the port: {PORT!r}")
        failures = 0 if ok else 1
        ENDPOINT = f"http://127.0.0.1:{PORT}"
        client("ecs").create_cluster(clusterName=CLUSTER)

        for function in CHECKS:
            try:
                function()
            except Exception as error:
                failures += 1
                print(f"FAIL {function.__name__}: {type(error).__name__}: {error}")
            else:
                print(f"ok   {function.__name__}")

        process.stdin.close()
        try:
            code = process.wait(timeout=5)
            print(f"{'ok  ' if code == 0 else 'FAIL'} exits with {code} once stdin is closed")
            failures += code != 0
        except subprocess.TimeoutExpired:
            process.kill()
            print("FAIL still running 5s after stdin was closed")
            failures += 1

    print(f"{len(CHECKS) + 2 - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
