"""The Rust front-end's lowering: tree-sitter Rust to the language-neutral program model."""

from __future__ import annotations

import pytest

pytest.importorskip("tree_sitter_rust")

from race_mcp.analyzer.core import model
from race_mcp.analyzer.core.walk import statements
from race_mcp.analyzer.rust.lower import RustModule, lower_module

SOURCE = """\
use aws_sdk_dynamodb::{types::AttributeValue, Client};
use axum::routing::post as axum_post;
static HITS: AtomicU64 = AtomicU64::new(0);
struct AppState { stock: Mutex<u64>, client: Client }

async fn handler(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<(), E> {
    let out = state.client.get_item().table_name("t").send().await?;
    let mut stock = state.stock.lock().unwrap();
    *stock -= 1;
    drop(stock);
    let (a, b) = (1, "x");
    let n = match out.item() {
        Some(item) => item.len(),
        None => return Err(E::Missing),
    };
    if let Some(v) = out.item() { println!("{}", v); } else { HITS.fetch_add(1, Ordering::SeqCst); }
    for i in 0..n { continue; }
    let f = |x: u64| x + 1;
    Ok(())
}

impl Service {
    pub fn helper(&self, x: i64) -> i64 { self.base + x }
}
"""


def lowered() -> RustModule:
    return lower_module(SOURCE, "lib.rs")


def handler() -> model.Function:
    return lowered().module.functions["handler"]


def test_items_imports_statics_structs() -> None:
    result = lowered()
    module = result.module
    assert module.language == "rust"
    assert module.imports["AttributeValue"] == "aws_sdk_dynamodb::types::AttributeValue"
    assert module.imports["Client"] == "aws_sdk_dynamodb::Client"
    assert module.imports["axum_post"] == "axum::routing::post"  # `use ... as ...`
    assert result.statics == {"HITS": "AtomicU64"}
    assert isinstance(module.assignments["HITS"], model.Call)
    assert result.structs["AppState"] == {"stock": "Mutex<u64>", "client": "Client"}
    assert set(module.functions) == {"handler", "Service.helper"}
    method = module.functions["Service.helper"]
    assert method.owner_class == "Service" and method.params == ("self", "x")
    assert module.classes["Service"].methods == {"helper": method}


def test_function_parameters_patterns_and_locals() -> None:
    function = handler()
    assert function.is_async
    assert function.params == ("state", "id")  # `State(state)` binds `state`
    assert function.annotations["state"] == "State<Arc<AppState>>"
    assert {"out", "stock", "a", "b", "n", "item", "v", "i", "f"} <= function.locals


def test_spans_are_exact() -> None:
    function = handler()
    first = function.body[0]
    assert isinstance(first, model.Assign)
    line = SOURCE.splitlines()[6]
    assert first.span == model.Span(7, 4, 7, len(line))  # the whole `let`, `;` included
    awaited = first.value
    assert isinstance(awaited, model.Await)
    assert SOURCE.splitlines()[6][awaited.span.column : awaited.span.end_column].endswith(".send().await")
    assert function.span.line == 6 and function.span.end_line == 20


def test_method_chain_is_calls_with_receivers_and_await() -> None:
    first = handler().body[0]
    assert isinstance(first, model.Assign) and isinstance(first.value, model.Await)
    send = first.value.value
    assert isinstance(send, model.Call) and send.method == "send"
    table = send.receiver
    assert isinstance(table, model.Call) and table.method == "table_name"
    assert isinstance(table.args[0].value, model.Literal) and table.args[0].value.value == "t"
    get_item = table.receiver
    assert isinstance(get_item, model.Call) and get_item.method == "get_item"
    assert isinstance(get_item.receiver, model.Attribute) and get_item.receiver.attr == "client"


def test_question_mark_is_a_possible_early_return() -> None:
    second = handler().body[1]
    assert isinstance(second, model.If) and isinstance(second.test, model.Opaque)
    assert second.test.kind == "try" and isinstance(second.body[0], model.Return)


def test_lock_guard_is_a_with_until_drop_and_the_guard_is_the_place() -> None:
    body = handler().body
    locked = body[2]
    assert isinstance(locked, model.With)
    assert locked.items[0].context.span.line == 8
    (decrement,) = locked.body
    assert isinstance(decrement, model.Assign) and decrement.op == "-"
    target = decrement.targets[0]
    assert isinstance(target, model.Attribute) and target.attr == "stock"  # `*stock` is `state.stock`
    assert target.span.line == 9
    after = body[3]  # `drop(stock)` ended the lock: the tuple binding runs outside it
    assert isinstance(after, model.Assign) and isinstance(after.targets[0], model.Collection)


def test_temporary_guard_lowers_to_the_place() -> None:
    module = lower_module(
        "fn f(s: State<Arc<A>>) { let v = *s.m.lock().unwrap(); *s.m.write().await = v + 1; }", "a.rs"
    ).module
    read, write = module.functions["f"].body
    assert isinstance(read, model.Assign) and isinstance(read.value, model.Attribute)
    # The temporary guard of an assignment's target holds for the statement: a `With` over it.
    assert isinstance(write, model.With) and isinstance(write.items[0].context, model.Call)
    (assign,) = write.body
    assert isinstance(assign, model.Assign) and isinstance(assign.targets[0], model.Attribute)
    assert assign.targets[0].attr == "m"


def test_match_binds_its_subject_once_and_arms_assign_the_let() -> None:
    body = handler().body
    bind, branch = body[4], body[5]
    assert isinstance(bind, model.Assign) and isinstance(bind.targets[0], model.Name)
    assert isinstance(branch, model.Branch) and len(branch.arms) == 2
    some, none = branch.arms
    assert isinstance(some[0], model.Assign) and some[0].targets[0].span.line == 13
    assert isinstance(some[-1], model.Assign) and isinstance(some[-1].targets[0], model.Name)
    assert some[-1].targets[0].id == "n"  # the arm's value is the `let`'s
    assert isinstance(none[-1], model.Return)


def test_if_let_walrus_macros_loops_closures() -> None:
    body = handler().body
    conditional = body[6]
    assert isinstance(conditional, model.If) and isinstance(conditional.test, model.Walrus)
    macro = conditional.body[0]
    assert isinstance(macro, model.Eval) and isinstance(macro.value, model.Opaque)
    assert macro.value.kind == "macro:println"
    assert [c.id for c in macro.value.children if isinstance(c, model.Name)] == ["v"]
    loop = body[7]
    assert isinstance(loop, model.Loop) and isinstance(loop.body[0], model.Jump)
    closure = body[8]
    assert isinstance(closure, model.Assign) and isinstance(closure.value, model.Opaque)
    assert closure.value.kind == "lambda"
    tail = body[-1]
    assert isinstance(tail, model.Return) and isinstance(tail.value, model.Call)


def test_struct_literal_and_format_template() -> None:
    module = lower_module(
        'fn f(u: String) { let k = format!("rate:{}", u); let s = S { a: 1, u }; }', "a.rs"
    ).module
    template, struct = module.functions["f"].body
    assert isinstance(template, model.Assign) and isinstance(template.value, model.Template)
    assert template.value.text == "rate:?"
    assert isinstance(struct, model.Assign) and isinstance(struct.value, model.Collection)
    assert struct.value.kind == "dict" and len(struct.value.elements) == 4


def test_every_statement_of_a_large_function_has_a_span() -> None:
    for statement in statements(handler().body):
        assert statement.span.line > 0 or isinstance(statement, model.If)


def test_row_column_reads_are_subscripts_but_connection_gets_stay_calls() -> None:
    module = lower_module('fn f() { let a = row.get("used"); let b = con.get("used"); }', "a.rs").module
    column, redis = module.functions["f"].body
    assert isinstance(column, model.Assign) and isinstance(column.value, model.Subscript)
    assert column.value.key == "used"
    assert isinstance(redis, model.Assign) and isinstance(redis.value, model.Call)
