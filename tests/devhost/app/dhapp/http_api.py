"""HTTP functions of the scenario app: starters using the durable client, routing probes."""

import json

import azure.durable_functions as df
import azure.functions as func

from dhapp import names

bp = df.Blueprint()


@bp.route(route="orchestrators/{name}/{instance_id?}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_orchestration(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(
        req.route_params["name"], req.route_params.get("instance_id"), payload
    )
    return client.create_check_status_response(req, instance_id)


@bp.route(route="singleton/{instance_id}", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_singleton(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Starts wait_forever under a fixed id unless an instance with that id is still running."""
    instance_id = req.route_params["instance_id"]
    existing = await client.get_status(instance_id)
    running = (
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Pending,
        df.OrchestrationRuntimeStatus.ContinuedAsNew,
        df.OrchestrationRuntimeStatus.Suspended,
    )
    if existing and existing.runtime_status in running:
        return func.HttpResponse(
            json.dumps({"error": "already running", "status": existing.runtime_status.value}),
            status_code=409,
            mimetype="application/json",
        )
    await client.start_new(names.WAIT_FOREVER, instance_id, None)
    return client.create_check_status_response(req, instance_id)


@bp.route(route="status/{instance_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def instance_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instance_id"])
    if not status:
        return func.HttpResponse(status_code=404)
    body = {
        "runtimeStatus": status.runtime_status.value if status.runtime_status else None,
        "output": status.output,
        "customStatus": status.custom_status,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@bp.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"kind": "id", "id": int(req.route_params["id"])}), mimetype="application/json"
    )


@bp.route(route="items/{name:alpha}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"kind": "name", "name": req.route_params["name"]}),
        mimetype="application/json",
    )


@bp.route(route="things/{key:guid}/{part?}", methods=["GET", "DELETE"])
def thing(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"key": req.route_params["key"], "part": req.route_params.get("part")}),
        mimetype="application/json",
    )


@bp.route(route="files/{*path}", methods=["GET"])
async def files(req: func.HttpRequest) -> str:
    return "path=" + (req.route_params.get("path") or "")


@bp.route(route="codes/{code:regex(^[A-Z]{{3}}-\\d+$)}", methods=["GET"])
def code(req: func.HttpRequest) -> str:
    return req.route_params["code"]


@bp.route(route="echo", methods=["POST"])
def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "method": req.method,
                "query": dict(req.params),
                "body": req.get_json(),
                "function": context.function_name,
            }
        ),
        status_code=201,
        mimetype="application/json",
    )


@bp.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("the handler failed")


@bp.route(route="secure/function", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def secure_function(req: func.HttpRequest) -> str:
    return "function-level ok"


@bp.route(route="secure/admin", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def secure_admin(req: func.HttpRequest) -> str:
    return "admin-level ok"
