"""Catalog entries for the RC4xx family: DynamoDB through boto3 (resource and client) and aioboto3."""

from __future__ import annotations

from ._model import CWE_362, Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC4"
FAMILY = "RC4xx DynamoDB"
_CONDITIONS = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html"
)
_OPTIMISTIC = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/BestPractices_OptimisticLocking.html"
)
_TRANSACTIONS = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html"
_UPDATES = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html"
)

RULES: list[Rule] = [
    Rule(
        id="RC401",
        name="dynamodb-get-then-put-without-condition",
        title="DynamoDB item read, decided on, then written without a condition on what was read",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix=(
            "Add a `ConditionExpression` that guards what was read (a version attribute bumped on every "
            "write, or `balance >= :amt`) and turn ConditionalCheckFailedException into a 409."
        ),
        what_it_does=(
            "Flags a `get_item` (boto3 `Table`, low-level client or aioboto3) whose result is "
            "checked or used to compute a value, followed by a `put_item` or `update_item` of the "
            "same item whose `ConditionExpression` does not guard what was read: neither the "
            "attribute the decision used (`stock = :seen`, `used = :no`, `attribute_not_exists(pk)` "
            "after an existence check) nor a version attribute. A condition on something else, "
            "typically only `attribute_exists(pk)`, does not count. The read and the write may sit "
            "in different helpers or repository methods of the same file."
        ),
        why_bad=(
            "DynamoDB has no row locks, and `ConsistentRead=True` only makes the read fresh, not "
            "the time between read and write. Concurrent requests all read the same stock, coupon "
            "flag or counter, all pass the check and all write: the last item is sold twice, a "
            "single-use coupon is used many times, increments are lost. A condition on the value "
            "read makes every stale write fail with `ConditionalCheckFailedException` instead."
        ),
        example=snippet(
            """
            import boto3
            from fastapi import FastAPI, HTTPException

            app = FastAPI()
            inventory = boto3.resource("dynamodb").Table("inventory")

            @app.post("/items/{sku}/hold")
            def hold_stock(sku: str, quantity: int):
                item = inventory.get_item(Key={"sku": sku}, ConsistentRead=True)["Item"]
                if item["stock"] < quantity:
                    raise HTTPException(409, "out of stock")
                inventory.put_item(Item={**item, "stock": item["stock"] - quantity})
                return {"left": item["stock"] - quantity}
            """
        ),
        use_instead=snippet(
            """
            import boto3
            from boto3.dynamodb.conditions import Attr
            from fastapi import FastAPI, HTTPException

            app = FastAPI()
            inventory = boto3.resource("dynamodb").Table("inventory")

            @app.post("/items/{sku}/hold")
            def hold_stock(sku: str, quantity: int):
                item = inventory.get_item(Key={"sku": sku}, ConsistentRead=True)["Item"]
                if item["stock"] < quantity:
                    raise HTTPException(409, "out of stock")
                try:
                    inventory.put_item(
                        Item={**item, "stock": item["stock"] - quantity, "version": item["version"] + 1},
                        ConditionExpression=Attr("version").eq(item["version"]),
                    )
                except inventory.meta.client.exceptions.ConditionalCheckFailedException:
                    raise HTTPException(409, "changed concurrently, retry")
                return {"left": item["stock"] - quantity}
            """
        ),
        fix_safety=(
            "Adding a condition turns a silent lost update into a `ConditionalCheckFailedException`: "
            "callers must handle it (answer 409, or re-read and retry a bounded number of times). "
            "When the write only adjusts a number, a single `update_item` with "
            "`SET stock = stock - :q` and `ConditionExpression='stock >= :q'` needs no read at all."
        ),
        known_problems=(
            "Whether the read and the write address the same item is judged from the table object "
            "and the key expression, not from runtime values. A get-then-put on a processed-ids "
            "table (stream dedup) is reported like any other check-then-create unless the put has "
            "`attribute_not_exists`. Conditions built with `boto3.dynamodb.conditions` are "
            "recognised by attribute name; conditions assembled in another module are not. When "
            "the condition re-checks the attribute the decision used (`balance = :seen`), other "
            "attributes copied from the read item into the put are trusted: a concurrent change "
            "to one of them is overwritten unnoticed unless a version attribute is checked."
        ),
        references=[CWE_362, _OPTIMISTIC, _CONDITIONS],
    ),
    Rule(
        id="RC402",
        name="dynamodb-unguarded-decrement",
        title="DynamoDB decrement with no condition that keeps the value from going negative",
        family=FAMILY,
        severity="high",
        cwe="CWE-362",
        fix="Add `ConditionExpression='balance >= :amt'` to the decrement.",
        what_it_does=(
            "Flags an `update_item` whose `UpdateExpression` subtracts from an attribute "
            "(`SET balance = balance - :amt`, with or without `#name` placeholders), or adds a "
            "negative number to it (`ADD credits :d`, `SET balance = balance + :d` with "
            "`:d` = `-n`), when no `ConditionExpression` requires that attribute to cover the "
            "amount (`balance >= :amt`, `Attr('balance').gte(amt)`). It is reported even with no "
            "read before it."
        ),
        why_bad=(
            "The update itself is atomic, so no decrement is lost, but nothing stops it from "
            "overdrawing: twenty concurrent redemptions of a 10-unit gift card all succeed and "
            "leave it at -190. The floor has to be checked by DynamoDB in the same request; "
            "checking it in Python first reintroduces the race."
        ),
        example=snippet(
            """
            import boto3

            wallets = boto3.resource("dynamodb").Table("wallets")

            def debit_wallet(wallet_id: str, amount: int) -> None:
                wallets.update_item(
                    Key={"wallet_id": wallet_id},
                    UpdateExpression="SET balance = balance - :amount",
                    ExpressionAttributeValues={":amount": amount},
                )
            """
        ),
        use_instead=snippet(
            """
            import boto3

            wallets = boto3.resource("dynamodb").Table("wallets")

            def debit_wallet(wallet_id: str, amount: int) -> bool:
                try:
                    wallets.update_item(
                        Key={"wallet_id": wallet_id},
                        UpdateExpression="SET balance = balance - :amount",
                        ConditionExpression="balance >= :amount",
                        ExpressionAttributeValues={":amount": amount},
                    )
                except wallets.meta.client.exceptions.ConditionalCheckFailedException:
                    return False
                return True
            """
        ),
        fix_safety=(
            "Callers that assumed the debit always succeeds must now handle the refusal "
            "(`ConditionalCheckFailedException`), typically as 409 or 402."
        ),
        known_problems=(
            "Whether an added operand is negative is only known from the literal "
            "`ExpressionAttributeValues` dict: a unary minus or a string starting with `-`, also "
            'wrapped as `{"N": str(-n)}`, `f"-{n}"` or `Decimal(-n)`; a negative value computed '
            "elsewhere is missed. A decrement "
            "of a value that may legitimately go negative (an overdraft account) is reported too; "
            "suppress it with `# race-mcp: ignore[RC402]`."
        ),
        references=[
            CWE_362,
            _CONDITIONS,
            _UPDATES,
        ],
    ),
    Rule(
        id="RC403",
        name="dynamodb-multi-item-write-without-transaction",
        title="Items that must change together written by separate DynamoDB calls",
        family=FAMILY,
        severity="medium",
        cwe="CWE-362",
        fix="Write the items that must change together with one `transact_write_items` call.",
        what_it_does=(
            "Flags a function that writes two or more different items with separate "
            "`put_item` / `update_item` / `delete_item` calls on the same path (a debit and a "
            "credit, seats taken and the booking that holds them, a row and its counter), or "
            "writes two or more items in one `batch_writer()` block, instead of one "
            "`transact_write_items`; and every `batch_write_item` call, a request of several items "
            "that is neither atomic nor all-or-nothing. The finding points at the first write. A "
            "`batch_writer()` bulk import that writes one item per loop iteration, and writes on "
            "mutually exclusive branches, are not flagged."
        ),
        why_bad=(
            "Between the two calls other requests see the half-done state (money debited but not "
            "credited), and if the process dies, times out or the second call is throttled, it "
            "stays that way. `BatchWriteItem` is not atomic either: it can return "
            "`UnprocessedItems` and applies the rest. `TransactWriteItems` commits every item, "
            "with every condition, or none."
        ),
        example=snippet(
            """
            import uuid

            import boto3

            dynamodb = boto3.resource("dynamodb")
            events = dynamodb.Table("events")
            bookings = dynamodb.Table("bookings")

            def book_tickets(event_id: str, customer_id: str, count: int) -> str:
                booking_id = str(uuid.uuid4())
                events.update_item(
                    Key={"event_id": event_id},
                    UpdateExpression="SET seats_left = seats_left - :n",
                    ConditionExpression="seats_left >= :n",
                    ExpressionAttributeValues={":n": count},
                )
                bookings.put_item(
                    Item={"booking_id": booking_id, "event_id": event_id, "customer_id": customer_id}
                )
                return booking_id
            """
        ),
        use_instead=snippet(
            """
            import uuid

            import boto3

            client = boto3.client("dynamodb")

            def book_tickets(event_id: str, customer_id: str, count: int) -> str:
                booking_id = str(uuid.uuid4())
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": "events",
                                "Key": {"event_id": {"S": event_id}},
                                "UpdateExpression": "SET seats_left = seats_left - :n",
                                "ConditionExpression": "seats_left >= :n",
                                "ExpressionAttributeValues": {":n": {"N": str(count)}},
                            }
                        },
                        {
                            "Put": {
                                "TableName": "bookings",
                                "Item": {
                                    "booking_id": {"S": booking_id},
                                    "event_id": {"S": event_id},
                                    "customer_id": {"S": customer_id},
                                },
                                "ConditionExpression": "attribute_not_exists(booking_id)",
                            }
                        },
                    ]
                )
                return booking_id
            """
        ),
        fix_safety=(
            "A transaction holds at most 100 items (4 MB), costs twice the write capacity, and "
            "fails as a whole with `TransactionCanceledException` (whose `CancellationReasons` say "
            "which condition failed), so error handling changes with it."
        ),
        known_problems=(
            "Whether two items really must change together is a business question; two writes "
            "that are independent by design (a row and a best-effort audit entry) are reported "
            "too, and so is a `batch_write_item` that bulk-loads independent rows. Writes are "
            "followed into helpers of the same file only."
        ),
        references=[
            CWE_362,
            _TRANSACTIONS,
            "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html",
        ],
    ),
    Rule(
        id="RC404",
        name="dynamodb-stream-consumer-without-dedup",
        title="Stream or queue consumer applies each record with no deduplication",
        family=FAMILY,
        severity="medium",
        cwe="CWE-837",
        fix=(
            "Record each processed event id with a conditional put (`attribute_not_exists`) before acting on "
            "it, or use an idempotency utility, so replays are skipped."
        ),
        what_it_does=(
            "Flags a Lambda handler that loops over `event['Records']` (DynamoDB Streams, SQS, "
            "Kinesis; also `event.get('Records', [])` or a local bound to either, whatever the "
            "first parameter is called) and writes to a store or causes another side effect for "
            "each record (an email, a message, a payment call), directly or in a helper of the "
            "same file, with no deduplication: no "
            "conditional put with `attribute_not_exists` on a processed-ids item, no check of a "
            "processed-ids table, no Powertools `@idempotent` / `@idempotent_function`, and no "
            "write conditioned on the record's sequence number."
        ),
        why_bad=(
            "These sources deliver at least once. A failed batch is retried in full, an SQS "
            "message whose visibility timeout runs out is handed to a second consumer while the "
            "first is still working, and stream shards are replayed after errors. Each replay "
            "adds the sale to the total again, sends the email again, credits the refund again."
        ),
        example=snippet(
            """
            import boto3

            totals = boto3.resource("dynamodb").Table("merchant_totals")

            def stream_sales_totals(event, context):
                for record in event["Records"]:
                    if record["eventName"] != "INSERT":
                        continue
                    sale = record["dynamodb"]["NewImage"]
                    totals.update_item(
                        Key={"merchant_id": sale["merchant_id"]["S"]},
                        UpdateExpression="ADD total :amount",
                        ExpressionAttributeValues={":amount": int(sale["amount"]["N"])},
                    )
            """
        ),
        use_instead=snippet(
            """
            import boto3

            client = boto3.client("dynamodb")

            def stream_sales_totals(event, context):
                for record in event["Records"]:
                    if record["eventName"] != "INSERT":
                        continue
                    sale = record["dynamodb"]["NewImage"]
                    try:
                        client.transact_write_items(
                            TransactItems=[
                                {
                                    "Put": {
                                        "TableName": "processed_events",
                                        "Item": {"event_id": {"S": record["eventID"]}},
                                        "ConditionExpression": "attribute_not_exists(event_id)",
                                    }
                                },
                                {
                                    "Update": {
                                        "TableName": "merchant_totals",
                                        "Key": {"merchant_id": sale["merchant_id"]},
                                        "UpdateExpression": "ADD total :amount",
                                        "ExpressionAttributeValues": {":amount": sale["amount"]},
                                    }
                                },
                            ]
                        )
                    except client.exceptions.TransactionCanceledException as error:
                        reasons = error.response.get("CancellationReasons", [])
                        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                            continue  # already applied: the marker exists
                        raise  # throttled or conflicting: let Lambda retry the batch
            """
        ),
        fix_safety=(
            "For DynamoDB-only effects, writing the claim and the change in one "
            "`transact_write_items` makes a replay a no-op. For other side effects (an email, a "
            "payment call), a conditional claim put before the effect skips the record if the "
            "process dies after the claim (at most once), and after the effect repeats it (at least "
            "once); Powertools' idempotency utility records an in-progress state and the result to "
            "handle both. `TransactionCanceledException` also covers throttling and conflicts, so "
            "only a failed condition on the marker means the record was a duplicate."
        ),
        known_problems=(
            "A processed-ids check done with `get_item` and an unconditional `put_item` counts as "
            "dedup for this rule, though it is itself a check-then-put race (RC401 covers that). "
            "A per-record write that is idempotent by construction (a put of the record's own "
            "`NewImage` under its own key) has no dedup record and is reported. Side effects and "
            "dedup are recognised by name: a call named like a write (`put_*`, `send_*`, "
            "`publish`, `execute`, `save`, ...) is an effect, and an identifier or string in the "
            "handler or its helpers that mentions `not_exists`, `idempot`, `dedup` or `processed` "
            "counts as deduplication (comments and the handler's own name do not)."
        ),
        references=[
            "CWE-837: Improper Enforcement of a Single, Unique Action",
            "https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html",
            "https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html",
            "https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/",
        ],
    ),
]
