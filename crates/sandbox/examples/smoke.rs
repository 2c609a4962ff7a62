use sandbox::*;
use serde_json::{Value, json};
use std::sync::Arc;

struct H;
#[async_trait::async_trait]
impl Host for H {
    async fn call(&self, ns: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        match tool {
            "echo" => Ok(args),
            "slow" => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok(args)
            }
            _ => Err(ToolError::new("unknown_tool", format!("no {ns}.{tool}"))),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sb = Sandbox::new(Limits {
        timeout_ms: 1000,
        ..Limits::default()
    });
    for code in std::env::args().skip(1) {
        let o = sb.execute(&code, Arc::new(H)).await;
        println!("{}", serde_json::to_string_pretty(&o).unwrap());
    }
    let _ = json!(1);
}
