//! `deploy/`: the Dockerfile and Kubernetes manifests agree with each other and with this
//! binary. The ConfigMap's config loads with the Secret's variables; the Deployment's own
//! arguments (addresses moved to loopback) start a server whose probe paths answer, and which
//! stops cleanly on SIGTERM.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest(name: &str) -> Value {
    let path = root().join("deploy/kubernetes").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn container() -> Value {
    manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0].clone()
}

fn args() -> Vec<String> {
    serde_json::from_value(container()["args"].clone()).unwrap()
}

/// The value after `flag` in `args`.
fn after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args.iter().position(|a| a == flag).unwrap();
    &args[at + 1]
}

/// The Secret's variables, as the Deployment hands them to the container.
fn secret_env() -> HashMap<String, String> {
    serde_json::from_value(manifest("secret.yaml")["stringData"].clone()).unwrap()
}

fn config_text() -> String {
    manifest("configmap.yaml")["data"]["codemode.json"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_manifests_agree_with_each_other_and_the_dockerfile() {
    let args = args();
    // The image's default command is the Deployment's, but for the drain's explicit flag.
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let cmd = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("CMD "))
        .unwrap();
    let cmd: Vec<String> = serde_json::from_str(cmd).unwrap();
    let without_drain: Vec<String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| *a != "--drain-seconds" && (*i == 0 || args[i - 1] != "--drain-seconds"))
        .map(|(_, a)| a.clone())
        .collect();
    assert_eq!(cmd, without_drain);
    assert!(dockerfile.contains("USER 10001"));

    let container = container();
    let port = |name: &str| -> u64 {
        container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["containerPort"]
            .as_u64()
            .unwrap()
    };
    let port_of = |address: &str| -> u64 { address.rsplit(':').next().unwrap().parse().unwrap() };
    assert_eq!(port_of(after(&args, "--http")), port("mcp"));
    assert_eq!(port_of(after(&args, "--admin")), port("admin"));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path);
        assert_eq!(container[probe]["httpGet"]["port"], "admin");
    }
    let drain: u64 = after(&args, "--drain-seconds").parse().unwrap();
    let grace =
        manifest("deployment.yaml")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap();
    assert!(grace > drain, "the kill would come before the drain ends");
    let service = manifest("service.yaml");
    assert_eq!(service["spec"]["sessionAffinity"], "ClientIP");
    // The config's Redis is the one redis.yaml serves.
    let redis = serde_saphyr::from_multiple::<Value>(
        &std::fs::read_to_string(root().join("deploy/kubernetes/redis.yaml")).unwrap(),
    )
    .unwrap();
    let name = redis[1]["metadata"]["name"].as_str().unwrap();
    let port = redis[1]["spec"]["ports"][0]["port"].as_u64().unwrap();
    let config: Value = serde_json::from_str(&config_text()).unwrap();
    assert!(
        config["redis"]
            .as_str()
            .unwrap()
            .starts_with(&format!("redis://{name}:{port}/")),
        "{config}"
    );
    for port in service["spec"]["ports"].as_array().unwrap() {
        assert!(
            ["mcp", "admin"].contains(&port["targetPort"].as_str().unwrap()),
            "{port}"
        );
    }
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(
        manifest("deployment.yaml")["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
    // Every path the container writes is a volume (the root filesystem is read-only).
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for path in [
        "/tmp",
        "/var/cache/codemode",
        "/var/log/codemode",
        "/etc/codemode",
    ] {
        assert!(mounts.contains(&path), "{path} is not mounted: {mounts:?}");
    }
    let config = gateway::Config::parse(Path::new("codemode.json"), &config_text(), &secret_env())
        .unwrap_or_else(|e| panic!("the ConfigMap's config: {e}"));
    assert!(config.auth.is_some(), "serving beyond loopback needs auth");
    assert!(after(&args, "--config").starts_with("/etc/codemode/"));
}

#[test]
fn the_deployments_own_arguments_start_a_server_whose_probes_answer() {
    let dir = std::env::temp_dir().join(format!("codemode-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The container's paths, moved into a folder of this test's.
    let mut config: Value = serde_json::from_str(&config_text()).unwrap();
    config["audit"]["path"] = Value::from(dir.join("audit.jsonl").to_str().unwrap());
    // The cluster's Redis is not here (the replicas test has one of its own).
    assert!(config["redis"].is_string());
    config.as_object_mut().unwrap().remove("redis");
    let path = dir.join("codemode.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let args: Vec<String> = args()
        .into_iter()
        .map(|a| match a.as_str() {
            "0.0.0.0:8080" | "0.0.0.0:9464" => "127.0.0.1:0".to_string(),
            _ if a.starts_with("/etc/codemode/") => path.to_string_lossy().into_owned(),
            _ => a,
        })
        .collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_codemode"))
        .args(&args)
        .envs(secret_env())
        .env("CODEMODE_CACHE_DIR", dir.join("cache"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut admin, mut mcp) = (None, None);
    while admin.is_none() || mcp.is_none() {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("codemode stopped before it served");
        };
        if let Some(at) = line.strip_prefix("codemode: metrics at http://") {
            admin = at.split('/').next().map(str::to_string);
        }
        if line.starts_with("codemode: serving MCP at ") {
            mcp = Some(line);
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let admin = admin.unwrap();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let mut stream = std::net::TcpStream::connect(&admin).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {admin}\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.0 200"), "{path}: {response}");
    }
    // SAFETY: a signal to the child process this test started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
