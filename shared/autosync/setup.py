"""Setup instructions for blob events: the Event Grid system topic and subscription as ``az``
commands and portal steps. The event key is shown once, in the command, and never stored."""

from __future__ import annotations

from typing import Any

from shared.autosync.events import KEY_HEADER

__all__ = ["events_setup"]


def events_setup(
    *, account: str, container: str, prefix: str, connection_id: str, endpoint: str, key: str
) -> dict[str, Any]:
    topic = f"blobsync-{account}"
    subject = f"/blobServices/default/containers/{container}/blobs/{prefix}"
    source = (
        "/subscriptions/<SUBSCRIPTION_ID>/resourceGroups/<RESOURCE_GROUP>"
        f"/providers/Microsoft.Storage/storageAccounts/{account}"
    )
    create_topic = (
        f"az eventgrid system-topic create --name {topic} --resource-group <RESOURCE_GROUP> "
        f"--location <ACCOUNT_LOCATION> --topic-type Microsoft.Storage.StorageAccounts "
        f"--source {source}"
    )
    subscribe = (
        f"az eventgrid system-topic event-subscription create --name blobsync-{connection_id} "
        f"--resource-group <RESOURCE_GROUP> --system-topic-name {topic} "
        f"--endpoint-type webhook --endpoint '{endpoint}' "
        "--event-delivery-schema cloudeventschemav1_0 "
        "--included-event-types Microsoft.Storage.BlobCreated Microsoft.Storage.BlobDeleted "
        f"--subject-begins-with '{subject}' "
        f"--delivery-attribute-mapping {KEY_HEADER} static '{key}' true "
        "--max-events-per-batch 100 --preferred-batch-size-in-kilobytes 1024 "
        "--max-delivery-attempts 30 --event-ttl 1440"
    )
    return {
        "endpoint": endpoint,
        "keyHeader": KEY_HEADER,
        "subjectBeginsWith": subject,
        "eventTypes": ["Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"],
        "commands": [create_topic, subscribe],
        "portalSteps": [
            f"Open the storage account {account} → Events → + Event Subscription.",
            f"Name: blobsync-{connection_id}; Event Schema: Cloud Event Schema v1.0; "
            f"System Topic Name: {topic} (created with the subscription if the account has none).",
            "Filter to Event Types: Blob Created and Blob Deleted only.",
            "Endpoint Type: Web Hook; Endpoint: the endpoint above.",
            f"Filters tab → Enable subject filtering → Subject Begins With: {subject}.",
            f"Delivery Properties tab → add header {KEY_HEADER}, Type Static, the key as value, "
            "and tick 'Is secret'.",
            "Additional Features tab → Max events per batch 100, preferred batch size 1024 KB.",
            "Create. Event Grid validates the endpoint at once; the subscription turns Active.",
        ],
    }
