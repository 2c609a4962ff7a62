//! Runs a TypeScript snippet against a built-in shop (thousands of orders, hundreds of
//! customers, generated deterministically) and prints what comes back out of the sandbox.
//!
//! ```text
//! cargo run -p codemode-sandbox --example demo              # the built-in snippet
//! cargo run -p codemode-sandbox --example demo -- my.ts     # your own, against the same shop
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use sandbox::{Host, Limits, Sandbox, ToolError};
use serde_json::{Value, json};

const SNIPPET: &str = r#"// The three biggest orders since March, with who placed them.
interface Order { id: number; customerId: number; total: number; placedAt: string }
interface Customer { id: number; name: string; city: string }

const orders: Order[] = await tools.shop.listOrders({ since: "2026-03-01" });
const ids = [...new Set(orders.map((o) => o.customerId))];
const customers: Customer[] = await tools.shop.getCustomers({ ids });
const byId = new Map(customers.map((c) => [c.id, c]));

console.log(`${orders.length} orders from ${ids.length} customers`);
return orders
  .filter((o) => o.total > 400)
  .sort((a, b) => b.total - a.total)
  .slice(0, 3)
  .map((o) => ({ order: o.id, total: o.total, customer: byId.get(o.customerId)?.name }));
"#;

const ORDERS: u64 = 5_000;
const CUSTOMERS: u64 = 400;

/// `shop.listOrders({since})` and `shop.getCustomers({ids})`, over generated data; counts the
/// bytes it hands to the sandbox.
#[derive(Default)]
struct Shop {
    bytes_out: AtomicUsize,
}

fn order(id: u64) -> Value {
    let day = id * 7 % 365;
    json!({
        "id": id,
        "customerId": id * 31 % CUSTOMERS + 1,
        "total": (id * 7919 % 50_000) as f64 / 100.0,
        "placedAt": format!("2026-{:02}-{:02}", day / 31 + 1, day % 28 + 1),
    })
}

fn customer(id: u64) -> Value {
    const NAMES: [&str; 8] = [
        "Ada", "Brendan", "Grace", "Ken", "Barbara", "Dennis", "Radia", "Linus",
    ];
    const CITIES: [&str; 5] = ["Oslo", "Lima", "Pune", "Accra", "Quito"];
    json!({
        "id": id,
        "name": format!("{} #{id}", NAMES[(id % 8) as usize]),
        "city": CITIES[(id % 5) as usize],
    })
}

#[async_trait]
impl Host for Shop {
    async fn call(&self, namespace: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        let answer = match (namespace, tool) {
            ("shop", "listOrders") => {
                let since = args["since"].as_str().unwrap_or("");
                let orders: Vec<Value> = (1..=ORDERS)
                    .map(order)
                    .filter(|o| o["placedAt"].as_str().unwrap_or("") >= since)
                    .collect();
                json!(orders)
            }
            ("shop", "getCustomers") => {
                let ids = args["ids"].as_array().cloned().unwrap_or_default();
                json!(
                    ids.iter()
                        .filter_map(Value::as_u64)
                        .map(customer)
                        .collect::<Vec<_>>()
                )
            }
            _ => {
                return Err(ToolError::new(
                    "unknown_tool",
                    format!("no tool {namespace}.{tool}; the shop has listOrders and getCustomers"),
                ));
            }
        };
        self.bytes_out
            .fetch_add(answer.to_string().len(), Ordering::Relaxed);
        Ok(answer)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let code = match std::env::args().nth(1) {
        None => SNIPPET.to_string(),
        Some(path) => match std::fs::read_to_string(&path) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("error: cannot read {path}: {error}");
                return std::process::ExitCode::from(2);
            }
        },
    };
    let shop = Arc::new(Shop::default());
    let outcome = Sandbox::new(Limits::default())
        .execute(&code, shop.clone())
        .await;

    println!(
        "{}",
        serde_json::to_string_pretty(&outcome).expect("an outcome is JSON")
    );
    let returned = outcome.result.as_ref().map_or(0, |r| r.to_string().len());
    eprintln!(
        "\n{} tool calls moved {} bytes into the sandbox; {} bytes came back out.",
        outcome.calls.len(),
        shop.bytes_out.load(Ordering::Relaxed),
        returned
    );
    if outcome.ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
