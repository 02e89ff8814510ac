"""RC4xx DynamoDB in JavaScript/TypeScript and Rust. DynamoDB: the AWS SDK for JavaScript v3 (lib-dynamodb)
and aws-sdk-dynamodb. Keyed by rule id; `race_mcp.rules` attaches each entry to its rule
(`Rule.other_languages`).
"""

from __future__ import annotations

from .._model import LanguageExamples, OtherLanguage, snippet

__all__ = ["EXAMPLES"]

EXAMPLES: dict[str, dict[OtherLanguage, LanguageExamples]] = {
    "RC401": {
        "javascript": LanguageExamples(
            filename="giftcards.mjs",
            racy=snippet(
                """
                import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
                import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";

                const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

                export async function redeem(cardId, amount) {
                  const { Item } = await doc.send(
                    new GetCommand({ TableName: "GiftCards", Key: { id: cardId } }),
                  );
                  if (Item.balance < amount) {
                    throw new Error("insufficient balance");
                  }
                  await doc.send(new PutCommand({
                    TableName: "GiftCards",
                    Item: { id: cardId, balance: Item.balance - amount },
                  }));
                }
                """
            ),
            fixed=snippet(
                """
                import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
                import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";

                const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

                export async function redeem(cardId, amount) {
                  // DynamoDB checks the balance at the write: a losing request gets ConditionalCheckFailed.
                  await doc.send(new UpdateCommand({
                    TableName: "GiftCards",
                    Key: { id: cardId },
                    UpdateExpression: "SET balance = balance - :amount",
                    ConditionExpression: "balance >= :amount",
                    ExpressionAttributeValues: { ":amount": amount },
                  }));
                }
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="giftcards.rs",
            fix=(
                "Add a `condition_expression` that guards what was read (a version attribute bumped on every "
                "write, or `balance >= :amt`) and turn `ConditionalCheckFailedException` into a 409."
            ),
            racy=snippet(
                """
                use aws_sdk_dynamodb::types::AttributeValue;
                use aws_sdk_dynamodb::Client;
                use axum::extract::{Path, State};
                use axum::middleware;
                use axum::routing::post;
                use axum::Router;
                use crate::idempotency::require_idempotency_key;

                async fn redeem(
                    State(client): State<Client>,
                    Path((card, amount)): Path<(String, i64)>,
                ) -> Result<(), AppError> {
                    let out = client
                        .get_item()
                        .table_name("GiftCards")
                        .key("id", AttributeValue::S(card.clone()))
                        .send()
                        .await?;
                    let balance = balance_of(out.item());
                    if balance < amount {
                        return Err(AppError::InsufficientBalance);
                    }
                    client
                        .put_item()
                        .table_name("GiftCards")
                        .item("id", AttributeValue::S(card))
                        .item("balance", AttributeValue::N((balance - amount).to_string()))
                        .send()
                        .await?;
                    Ok(())
                }

                pub fn app(client: Client) -> Router {
                    Router::new()
                        .route("/giftcards/:card/redeem/:amount", post(redeem))
                        .route_layer(middleware::from_fn(require_idempotency_key))
                        .with_state(client)
                }
                """
            ),
            fixed=snippet(
                """
                use aws_sdk_dynamodb::types::AttributeValue;
                use aws_sdk_dynamodb::Client;
                use axum::extract::{Path, State};
                use axum::middleware;
                use axum::routing::post;
                use axum::Router;
                use crate::idempotency::require_idempotency_key;

                // DynamoDB checks the balance at the write: a losing request gets ConditionalCheckFailed.
                async fn redeem(
                    State(client): State<Client>,
                    Path((card, amount)): Path<(String, i64)>,
                ) -> Result<(), AppError> {
                    client
                        .update_item()
                        .table_name("GiftCards")
                        .key("id", AttributeValue::S(card))
                        .update_expression("SET balance = balance - :amount")
                        .condition_expression("balance >= :amount")
                        .expression_attribute_values(":amount", AttributeValue::N(amount.to_string()))
                        .send()
                        .await?;
                    Ok(())
                }

                pub fn app(client: Client) -> Router {
                    Router::new()
                        .route("/giftcards/:card/redeem/:amount", post(redeem))
                        .route_layer(middleware::from_fn(require_idempotency_key))
                        .with_state(client)
                }
                """
            ),
        ),
    },
    "RC402": {
        "javascript": LanguageExamples(
            filename="wallets.mjs",
            racy=snippet(
                """
                import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
                import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";

                const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

                export async function spend(walletId, amount) {
                  await doc.send(new UpdateCommand({
                    TableName: "Wallets",
                    Key: { id: walletId },
                    UpdateExpression: "SET balance = balance - :amount",
                    ExpressionAttributeValues: { ":amount": amount },
                  }));
                }
                """
            ),
            fixed=snippet(
                """
                import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
                import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";

                const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

                export async function spend(walletId, amount) {
                  await doc.send(new UpdateCommand({
                    TableName: "Wallets",
                    Key: { id: walletId },
                    UpdateExpression: "SET balance = balance - :amount",
                    ConditionExpression: "balance >= :amount",
                    ExpressionAttributeValues: { ":amount": amount },
                  }));
                }
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="wallets.rs",
            fix=('Add `.condition_expression("balance >= :amt")` to the decrement\'s `update_item()`.'),
            racy=snippet(
                """
                use aws_sdk_dynamodb::types::AttributeValue;
                use aws_sdk_dynamodb::Client;

                pub async fn spend(client: &Client, wallet: String, amount: i64) -> Result<(), AppError> {
                    client
                        .update_item()
                        .table_name("Wallets")
                        .key("id", AttributeValue::S(wallet))
                        .update_expression("SET balance = balance - :amount")
                        .expression_attribute_values(":amount", AttributeValue::N(amount.to_string()))
                        .send()
                        .await?;
                    Ok(())
                }
                """
            ),
            fixed=snippet(
                """
                use aws_sdk_dynamodb::types::AttributeValue;
                use aws_sdk_dynamodb::Client;

                pub async fn spend(client: &Client, wallet: String, amount: i64) -> Result<(), AppError> {
                    client
                        .update_item()
                        .table_name("Wallets")
                        .key("id", AttributeValue::S(wallet))
                        .update_expression("SET balance = balance - :amount")
                        .condition_expression("balance >= :amount")
                        .expression_attribute_values(":amount", AttributeValue::N(amount.to_string()))
                        .send()
                        .await?;
                    Ok(())
                }
                """
            ),
        ),
    },
    "RC403": {
        "javascript": LanguageExamples(
            filename="tickets.mjs",
            racy=snippet(
                """
                import { randomUUID } from "node:crypto";
                import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
                import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";

                const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

                export async function bookTickets(eventId, customerId, count) {
                  const bookingId = randomUUID();
                  await doc.send(new UpdateCommand({
                    TableName: "Events",
                    Key: { eventId },
                    UpdateExpression: "SET seatsLeft = seatsLeft - :n",
                    ConditionExpression: "seatsLeft >= :n",
                    ExpressionAttributeValues: { ":n": count },
                  }));
                  await doc.send(new PutCommand({
                    TableName: "Bookings",
                    Item: { bookingId, eventId, customerId },
                  }));
                  return bookingId;
                }
                """
            ),
            fixed=snippet(
                """
                import { randomUUID } from "node:crypto";
                import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
                import { DynamoDBDocumentClient, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";

                const doc = DynamoDBDocumentClient.from(new DynamoDBClient({}));

                export async function bookTickets(eventId, customerId, count) {
                  const bookingId = randomUUID();
                  await doc.send(new TransactWriteCommand({
                    TransactItems: [
                      {
                        Update: {
                          TableName: "Events",
                          Key: { eventId },
                          UpdateExpression: "SET seatsLeft = seatsLeft - :n",
                          ConditionExpression: "seatsLeft >= :n",
                          ExpressionAttributeValues: { ":n": count },
                        },
                      },
                      {
                        Put: {
                          TableName: "Bookings",
                          Item: { bookingId, eventId, customerId },
                          ConditionExpression: "attribute_not_exists(bookingId)",
                        },
                      },
                    ],
                  }));
                  return bookingId;
                }
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="tickets.rs",
            fix=(
                "Write the items that must change together with one `transact_write_items()` call (a "
                "`TransactWriteItem` per `Update`/`Put` builder)."
            ),
            racy=snippet(
                """
                use aws_sdk_dynamodb::types::AttributeValue;
                use aws_sdk_dynamodb::Client;

                pub async fn book_tickets(
                    client: &Client,
                    event: String,
                    booking: String,
                    count: i64,
                ) -> Result<(), AppError> {
                    client
                        .update_item()
                        .table_name("Events")
                        .key("eventId", AttributeValue::S(event.clone()))
                        .update_expression("SET seatsLeft = seatsLeft - :n")
                        .condition_expression("seatsLeft >= :n")
                        .expression_attribute_values(":n", AttributeValue::N(count.to_string()))
                        .send()
                        .await?;
                    client
                        .put_item()
                        .table_name("Bookings")
                        .item("bookingId", AttributeValue::S(booking))
                        .item("eventId", AttributeValue::S(event))
                        .send()
                        .await?;
                    Ok(())
                }
                """
            ),
            fixed=snippet(
                """
                use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
                use aws_sdk_dynamodb::Client;

                pub async fn book_tickets(
                    client: &Client,
                    event: String,
                    booking: String,
                    count: i64,
                ) -> Result<(), AppError> {
                    let seats = Update::builder()
                        .table_name("Events")
                        .key("eventId", AttributeValue::S(event.clone()))
                        .update_expression("SET seatsLeft = seatsLeft - :n")
                        .condition_expression("seatsLeft >= :n")
                        .expression_attribute_values(":n", AttributeValue::N(count.to_string()))
                        .build()?;
                    let record = Put::builder()
                        .table_name("Bookings")
                        .item("bookingId", AttributeValue::S(booking))
                        .item("eventId", AttributeValue::S(event))
                        .condition_expression("attribute_not_exists(bookingId)")
                        .build()?;
                    client
                        .transact_write_items()
                        .transact_items(TransactWriteItem::builder().update(seats).build())
                        .transact_items(TransactWriteItem::builder().put(record).build())
                        .send()
                        .await?;
                    Ok(())
                }
                """
            ),
        ),
    },
    "RC404": {
        "javascript": LanguageExamples(
            filename="totals.js",
            racy=snippet(
                """
                const { DynamoDBClient, UpdateItemCommand } = require("@aws-sdk/client-dynamodb");

                const ddb = new DynamoDBClient({});

                exports.handler = async (event) => {
                  for (const record of event.Records) {
                    if (record.eventName !== "INSERT") continue;
                    const sale = record.dynamodb.NewImage;
                    await ddb.send(new UpdateItemCommand({
                      TableName: "MerchantTotals",
                      Key: { merchantId: sale.merchantId },
                      UpdateExpression: "ADD total :amount",
                      ExpressionAttributeValues: { ":amount": sale.amount },
                    }));
                  }
                };
                """
            ),
            fixed=snippet(
                """
                const { DynamoDBClient, TransactWriteItemsCommand } = require("@aws-sdk/client-dynamodb");

                const ddb = new DynamoDBClient({});

                exports.handler = async (event) => {
                  for (const record of event.Records) {
                    if (record.eventName !== "INSERT") continue;
                    const sale = record.dynamodb.NewImage;
                    try {
                      // The processed-event marker and the total change together, once per record.
                      await ddb.send(new TransactWriteItemsCommand({
                        TransactItems: [
                          {
                            Put: {
                              TableName: "ProcessedEvents",
                              Item: { eventId: { S: record.eventID } },
                              ConditionExpression: "attribute_not_exists(eventId)",
                            },
                          },
                          {
                            Update: {
                              TableName: "MerchantTotals",
                              Key: { merchantId: sale.merchantId },
                              UpdateExpression: "ADD total :amount",
                              ExpressionAttributeValues: { ":amount": sale.amount },
                            },
                          },
                        ],
                      }));
                    } catch (err) {
                      if (err.name === "TransactionCanceledException") continue; // already applied
                      throw err;
                    }
                  }
                };
                """
            ),
        ),
        "rust": LanguageExamples(
            filename="totals.rs",
            fix=(
                "Record each processed event id with a conditional put (`attribute_not_exists(eventId)`) in "
                "the same `transact_write_items()` as the change, and skip the record when its condition "
                "fails, so a redelivered batch is not applied twice."
            ),
            gap=(
                "Lambda functions (`lambda_runtime`) are not entry points of the Rust front-end yet, so "
                "stream consumers are not looked for."
            ),
            racy=snippet(
                """
                use aws_lambda_events::event::dynamodb::Event;
                use aws_sdk_dynamodb::types::AttributeValue;
                use aws_sdk_dynamodb::Client;
                use lambda_runtime::{Error, LambdaEvent};

                pub async fn handler(client: &Client, event: LambdaEvent<Event>) -> Result<(), Error> {
                    for record in event.payload.records {
                        if record.event_name != "INSERT" {
                            continue;
                        }
                        let sale = record.change.new_image;
                        client
                            .update_item()
                            .table_name("MerchantTotals")
                            .key("merchantId", AttributeValue::S(sale.merchant_id()))
                            .update_expression("ADD total :amount")
                            .expression_attribute_values(":amount", AttributeValue::N(sale.amount()))
                            .send()
                            .await?;
                    }
                    Ok(())
                }
                """
            ),
            fixed=snippet(
                """
                use aws_lambda_events::event::dynamodb::Event;
                use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
                use aws_sdk_dynamodb::Client;
                use lambda_runtime::{Error, LambdaEvent};

                pub async fn handler(client: &Client, event: LambdaEvent<Event>) -> Result<(), Error> {
                    for record in event.payload.records {
                        if record.event_name != "INSERT" {
                            continue;
                        }
                        let sale = record.change.new_image;
                        // The processed-event marker and the total change together, once per record.
                        let marker = Put::builder()
                            .table_name("ProcessedEvents")
                            .item("eventId", AttributeValue::S(record.event_id.clone()))
                            .condition_expression("attribute_not_exists(eventId)")
                            .build()?;
                        let total = Update::builder()
                            .table_name("MerchantTotals")
                            .key("merchantId", AttributeValue::S(sale.merchant_id()))
                            .update_expression("ADD total :amount")
                            .expression_attribute_values(":amount", AttributeValue::N(sale.amount()))
                            .build()?;
                        let applied = client
                            .transact_write_items()
                            .transact_items(TransactWriteItem::builder().put(marker).build())
                            .transact_items(TransactWriteItem::builder().update(total).build())
                            .send()
                            .await;
                        if let Err(err) = applied {
                            if !is_condition_failure(&err) {
                                // throttled or conflicting: let Lambda retry the batch
                                return Err(err.into());
                            }
                        }
                    }
                    Ok(())
                }
                """
            ),
        ),
    },
}
