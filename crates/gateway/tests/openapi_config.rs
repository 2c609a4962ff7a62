//! The config's `openapi` section: REST APIs by their OpenAPI documents, read as namespaces
//! beside the servers, with their credentials, filters and limits; bad entries refused by key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gateway::Config;
use gateway::config::{Credential, DocumentAt, Transport};

fn parse(text: &str) -> Result<Config, String> {
    let env = HashMap::from([("TOKEN".to_string(), "s3cret".to_string())]);
    Config::parse(Path::new("codemode.json"), text, &env).map_err(|e| e.to_string())
}

#[test]
fn openapi_sources_are_namespaces_beside_the_servers() {
    let config = parse(
        r#"{"mcpServers": {"shop": {"command": "shop"}},
            "openapi": {"github": {"spec": "specs/github.yaml", "baseUrl": "https://api.github.com",
              "headers": {"Authorization": "Bearer ${TOKEN}"},
              "credentials": {"key": "${TOKEN}", "basic": {"username": "u", "password": "p"},
                              "machine": {"clientId": "c", "clientSecret": "s", "scopes": ["read"]}},
              "include": {"tags": ["repos"], "methods": ["get"]}, "exclude": {"paths": ["/admin/*"]},
              "maxResponseBytes": 1000, "limits": {"maxConcurrent": 2}}}}"#,
    )
    .unwrap();
    let Transport::OpenApi(source) = &config.servers["github"].transport else {
        panic!("not an OpenAPI source");
    };
    assert_eq!(
        source.document,
        DocumentAt::File(PathBuf::from("specs/github.yaml"))
    );
    assert_eq!(source.headers["Authorization"], "Bearer s3cret");
    assert_eq!(
        source.credentials["key"],
        Credential::Secret("s3cret".into())
    );
    assert!(
        matches!(&source.credentials["machine"], Credential::Client { scopes, .. } if scopes == &["read"])
    );
    assert_eq!(source.filter.include_tags, ["repos"]);
    assert_eq!(source.filter.exclude_paths, ["/admin/*"]);
    assert_eq!(source.max_response_bytes, 1000);
    assert_eq!(config.servers["github"].limits.max_concurrent, Some(2));
    assert!(
        !format!("{source:?}").contains("s3cret"),
        "no secret in Debug"
    );
    for (text, says) in [
        (r#"{"openapi": {"a": {}}}"#, "missing `spec`"),
        (
            r#"{"openapi": {"a": {"spec": "http://api.example/openapi.json"}}}"#,
            "must be https://",
        ),
        (
            r#"{"mcpServers": {"a": {"command": "x"}}, "openapi": {"a": {"spec": "a.json"}}}"#,
            "also a server's name",
        ),
        (
            r#"{"openapi": {"a": {"spec": "a.json", "credentials": {"s": {"password": "p"}}}}}"#,
            "give `username`",
        ),
        (
            r#"{"openapi": {"a": {"spec": "a.json", "credentials": {"s": 5}}}}"#,
            "openapi.a.credentials.s",
        ),
    ] {
        let error = parse(text).unwrap_err();
        assert!(error.contains(says), "{text}: {error}");
        assert!(!error.contains("s3cret"));
    }
    let fetched =
        parse(r#"{"openapi": {"a": {"spec": "https://api.example/openapi.json"}}}"#).unwrap();
    assert!(
        matches!(&fetched.servers["a"].transport, Transport::OpenApi(s) if s.document == DocumentAt::Url("https://api.example/openapi.json".into()))
    );
}
