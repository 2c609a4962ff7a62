//! The config's tests: every section, every error naming its key, and the one list of keys.
//!
//! Why one file of this length: the list of keys is checked against a probe of every section,
//! and the sections' own tests sit beside those probes.

use super::*;

fn parse(text: &str) -> Result<Config, String> {
    let env = HashMap::from([("TOKEN".to_string(), "s3cret".to_string())]);
    Config::parse(Path::new("codemode.json"), text, &env).map_err(|e| e.to_string())
}

#[test]
fn a_client_config_works_as_it_is() {
    let config = parse(
        r#"{"mcpServers": {
            "github": {"command": "npx", "args": ["-y", "server", "--token=${TOKEN}"], "env": {"GITHUB_TOKEN": "${TOKEN}"}},
            "tracker": {"type": "http", "url": "https://tracker.example/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
            "off": {"command": "x", "disabled": true}
        }}"#,
    )
    .unwrap();
    let Transport::Stdio { args, env, .. } = &config.servers["github"].transport else {
        panic!()
    };
    assert_eq!(args[2], "--token=s3cret");
    assert_eq!(env["GITHUB_TOKEN"], "s3cret");
    let Transport::Http { headers, .. } = &config.servers["tracker"].transport else {
        panic!()
    };
    assert_eq!(headers["Authorization"], "Bearer s3cret");
    assert!(config.servers["off"].disabled);
    assert_eq!(config.limits, Limits::default());
}

#[test]
fn limits_mix_sandbox_and_gateway_keys() {
    let config = parse(r#"{"limits": {"timeoutMs": 1000, "memoryMb": 32, "maxOutputChars": 5000, "callTimeoutMs": 7}}"#).unwrap();
    assert_eq!(config.limits.sandbox.timeout_ms, 1000);
    assert_eq!(config.limits.sandbox.memory_mb, 32);
    assert_eq!(config.limits.max_output_chars, 5000);
    assert_eq!(config.limits.call_timeout_ms, 7);
}

#[test]
fn the_cache_is_on_by_default_and_can_be_placed_or_turned_off() {
    let config = Config::parse(
        Path::new("/etc/codemode/codemode.json"),
        "{}",
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(config.cache, CacheConfig::default());
    assert!(config.cache.enabled && config.cache.dir.is_none());
    let config = Config::parse(
        Path::new("/etc/codemode/codemode.json"),
        r#"{"cache": {"dir": "cache", "maxAgeHours": 2}}"#,
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(config.cache.dir, Some(PathBuf::from("/etc/codemode/cache")));
    assert_eq!(config.cache.max_age_hours, 2.0);
    assert!(!parse(r#"{"cache": false}"#).unwrap().cache.enabled);
    for (text, message) in [
        (
            r#"{"cache": 3}"#,
            "codemode.json: cache: must be true, false, or an object with `dir` and `maxAgeHours`",
        ),
        (
            r#"{"cache": {"maxAge": 3}}"#,
            "codemode.json: cache.maxAge: unknown key; expected one of `dir`, `maxAgeHours`",
        ),
        (
            r#"{"cache": {"maxAgeHours": -1}}"#,
            "codemode.json: cache.maxAgeHours: must be a number of hours, from 0 to 100000",
        ),
        (
            r#"{"cache": {"dir": "${NOPE}"}}"#,
            "codemode.json: cache.dir: the environment variable NOPE is not set",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err(), message);
    }
}

#[test]
fn skills_are_a_folder_beside_the_config() {
    assert_eq!(parse("{}").unwrap().skills, None);
    let skills = parse(r#"{"skills": "skills"}"#).unwrap().skills.unwrap();
    assert_eq!(
        (skills.folder, skills.save),
        (PathBuf::from("skills"), true)
    );
    let skills = parse(r#"{"skills": {"folder": "/srv/skills", "save": false}}"#)
        .unwrap()
        .skills
        .unwrap();
    assert_eq!(
        (skills.folder, skills.save),
        (PathBuf::from("/srv/skills"), false)
    );
    for (text, message) in [
        (
            r#"{"skills": true}"#,
            "codemode.json: skills: must be a folder, or an object with `folder` and `save`",
        ),
        (
            r#"{"skills": {"save": true}}"#,
            "codemode.json: skills.folder: is missing: the folder the skills are kept in",
        ),
        (
            r#"{"skills": ""}"#,
            "codemode.json: skills.folder: is missing: the folder the skills are kept in",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err(), message);
    }
}

#[test]
fn the_store_is_on_by_default_and_can_be_bounded_or_turned_off() {
    assert_eq!(
        parse("{}").unwrap().store,
        crate::config::StoreConfig::default()
    );
    assert!(!parse(r#"{"store": false}"#).unwrap().store.enabled);
    let store = parse(r#"{"store": {"maxBytes": 100, "maxEntries": 3, "idleMinutes": 0.5}}"#)
        .unwrap()
        .store;
    assert_eq!(
        (
            store.enabled,
            store.max_bytes,
            store.max_entries,
            store.idle_minutes
        ),
        (true, 100, 3, 0.5)
    );
    for (text, message) in [
        (
            r#"{"store": "yes"}"#,
            "codemode.json: store: must be true, false, or an object with `maxBytes`, `maxEntries` and `idleMinutes`",
        ),
        (
            r#"{"store": {"maxEntries": 0}}"#,
            "codemode.json: store.maxEntries: must be a whole number, 1 or more",
        ),
        (
            r#"{"store": {"idleMinutes": 0}}"#,
            "codemode.json: store.idleMinutes: must be a number of minutes, more than 0 and at most 525600",
        ),
        (
            r#"{"store": {"maxByte": 3}}"#,
            "codemode.json: store.maxByte: unknown key (did you mean `maxBytes`?); expected one of `maxBytes`, `maxEntries`, `idleMinutes`",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err(), message);
    }
}

#[test]
fn isolation_is_a_process_by_default_on_linux_and_can_be_tuned_or_turned_off() {
    let config = parse("{}").unwrap();
    assert_eq!(config.isolation.process, cfg!(target_os = "linux"));
    assert!(config.isolation.worker.is_none());
    assert!(!parse(r#"{"isolation": "none"}"#).unwrap().isolation.process);
    let isolation = parse(
        r#"{"isolation": {"mode": "process", "warm": 0, "maxRunning": 8, "maxWaiting": 16, "runsPerWorker": 1}}"#,
    )
    .unwrap()
    .isolation;
    assert!(isolation.process);
    assert_eq!(
        (
            isolation.warm,
            isolation.max_running,
            isolation.max_waiting,
            isolation.runs_per_worker
        ),
        (0, 8, 16, 1)
    );
    assert_eq!(parse("{}").unwrap().isolation.runs_per_worker, 64);
    for (text, message) in [
        (
            r#"{"isolation": "sandboxed"}"#,
            "codemode.json: isolation: must be \"process\" (each execution in a jailed worker process) or \"none\" (in the gateway's process)",
        ),
        (
            r#"{"isolation": {"maxRunning": 0}}"#,
            "codemode.json: isolation.maxRunning: must be a whole number, 1 or more",
        ),
        (
            r#"{"isolation": {"workers": 3}}"#,
            "codemode.json: isolation.workers: unknown key; expected one of `mode`, `warm`, `maxRunning`, `maxWaiting`, `runsPerWorker`",
        ),
        (
            r#"{"isolation": {"runsPerWorker": 0}}"#,
            "codemode.json: isolation.runsPerWorker: must be a whole number, 1 or more",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err(), message);
    }
}

#[test]
fn an_upstream_takes_its_own_limits() {
    let config = parse(
        r#"{"mcpServers": {"a": {"command": "x", "limits": {"maxConcurrent": 2, "maxPerSecond": 5.5}}, "b": {"command": "y"}}}"#,
    )
    .unwrap();
    assert_eq!(config.servers["a"].limits.max_concurrent, Some(2));
    assert_eq!(config.servers["a"].limits.max_per_second, Some(5.5));
    assert_eq!(config.servers["b"].limits, UpstreamLimits::default());
    for (text, message) in [
        (
            r#"{"mcpServers": {"a": {"command": "x", "limits": {"maxConcurrent": 0}}}}"#,
            "codemode.json: mcpServers.a.limits.maxConcurrent: must be a whole number, 1 or more",
        ),
        (
            r#"{"mcpServers": {"a": {"command": "x", "limits": {"maxPerSecond": 0}}}}"#,
            "codemode.json: mcpServers.a.limits.maxPerSecond: must be a number from 0.0001 to 1000000",
        ),
    ] {
        assert_eq!(parse(text).unwrap_err(), message);
    }
    let error =
        parse(r#"{"mcpServers": {"a": {"command": "x", "limits": {"qps": 1}}}}"#).unwrap_err();
    assert!(
        error.starts_with(
            "codemode.json: mcpServers.a.limits.qps: unknown key; expected one of `maxConcurrent`"
        ),
        "{error}"
    );
}

#[test]
fn an_upstream_is_exposed_in_code_directly_or_both() {
    let config = parse(
        r#"{"mcpServers": {"a": {"command": "x"}, "b": {"command": "x", "expose": "direct"}, "c": {"command": "x", "expose": "both"}}}"#,
    )
    .unwrap();
    assert_eq!(config.servers["a"].expose, Expose::Code);
    assert_eq!(config.servers["b"].expose, Expose::Direct);
    assert_eq!(config.servers["c"].expose, Expose::Both);
    assert_eq!(
        parse(r#"{"mcpServers": {"a": {"command": "x", "expose": "tools"}}}"#).unwrap_err(),
        "codemode.json: mcpServers.a.expose: must be \"code\" (inside execute), \"direct\" (as ordinary MCP tools) or \"both\""
    );
}

#[test]
fn the_audit_log_is_opt_in_and_relative_to_the_config() {
    assert_eq!(parse("{}").unwrap().audit, None);
    let config = Config::parse(
        Path::new("/etc/codemode/codemode.json"),
        r#"{"audit": {"path": "logs/audit.jsonl", "arguments": true}}"#,
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(
        config.audit,
        Some((PathBuf::from("/etc/codemode/logs/audit.jsonl"), true))
    );
    let error = parse(r#"{"audit": {"file": "x"}}"#).unwrap_err();
    assert!(
        error.starts_with(
            "codemode.json: audit.file: unknown key; expected one of `path`, `arguments`"
        ),
        "{error}"
    );
}

#[test]
fn errors_name_the_key() {
    let error = parse(r#"{"mcpServers": {"github": {"comand": "npx"}}}"#).unwrap_err();
    assert!(
        error.starts_with("codemode.json: mcpServers.github.comand: unknown key (did you mean `command`?); expected one of `type`, `command`"),
        "{error}"
    );
    let error = parse(r#"{"mcpServers": {"github": {"args": []}}}"#).unwrap_err();
    assert!(
        error.starts_with("codemode.json: mcpServers.github: missing `command`"),
        "{error}"
    );
    let error = parse(r#"{"mcpServers": {"github": {"command": "x", "env": {"T": "${NOPE}"}}}}"#)
        .unwrap_err();
    assert_eq!(
        error,
        "codemode.json: mcpServers.github.env.T: the environment variable NOPE is not set"
    );
    let error = parse(r#"{"limits": {"timeout": 5}}"#).unwrap_err();
    assert!(error.starts_with("codemode.json: limits.timeout: unknown key (did you mean `timeoutMs`?); expected one of `timeoutMs`, `memoryMb`"), "{error}");
    let error = parse(r#"{"limits": {"maxOutputChars": "big"}}"#).unwrap_err();
    assert_eq!(
        error,
        "codemode.json: limits.maxOutputChars: must be a whole number"
    );
    let error = parse(r#"{"limits": {"maxOutputChars": 999}}"#).unwrap_err();
    assert!(
        error.starts_with("codemode.json: limits.maxOutputChars: must be at least 1000"),
        "{error}"
    );
    let error = parse(r#"{"mcpServer": {}}"#).unwrap_err();
    assert!(
        error.contains("mcpServer: unknown key (did you mean `mcpServers`?)"),
        "{error}"
    );
    let config = parse(r#"{"mcpServers": {"a": {"url": "https://x", "type": "sse"}}}"#).unwrap();
    let why = config.servers["a"].unsupported.as_deref().unwrap_or("");
    assert!(why.starts_with("the old SSE transport"), "{why}");
    let error = parse("{").unwrap_err();
    assert!(
        error.starts_with("codemode.json: not valid JSON"),
        "{error}"
    );
}

#[test]
fn secrets_are_not_in_errors() {
    let error = parse(r#"{"mcpServers": {"a": {"url": "${TOKEN}"}}}"#).unwrap_err();
    assert!(!error.contains("s3cret"), "{error}");
}

/// [`KEYS`] is what the parser takes, section by section (each section's refusal of an
/// unknown key lists the keys it takes), and the README documents every key.
#[test]
fn the_list_of_keys_is_the_parsers_and_the_readmes() {
    let probes = [
        ("", r#"{"zzz": 1}"#),
        (
            "mcpServers.<name>",
            r#"{"mcpServers": {"a": {"command": "x", "zzz": 1}}}"#,
        ),
        (
            "mcpServers.<name>.limits",
            r#"{"mcpServers": {"a": {"command": "x", "limits": {"zzz": 1}}}}"#,
        ),
        (
            "mcpServers.<name>.oauth",
            r#"{"mcpServers": {"a": {"url": "https://a.example/mcp", "oauth": {"zzz": 1}}}}"#,
        ),
        ("limits", r#"{"limits": {"zzz": 1}}"#),
        ("isolation", r#"{"isolation": {"zzz": 1}}"#),
        ("cache", r#"{"cache": {"zzz": 1}}"#),
        ("audit", r#"{"audit": {"path": "a", "zzz": 1}}"#),
        ("store", r#"{"store": {"zzz": 1}}"#),
        ("skills", r#"{"skills": {"folder": "s", "zzz": 1}}"#),
        ("redis", r#"{"redis": {"url": "redis://r", "zzz": 1}}"#),
        ("auth", r#"{"auth": {"zzz": 1}}"#),
        ("auth.jwt", r#"{"auth": {"jwt": {"zzz": 1}}}"#),
        (
            "auth.tokens.<name>",
            r#"{"auth": {"tokens": {"a": {"token": "sha256:00", "zzz": 1}}}}"#,
        ),
        (
            "openapi.<name>",
            r#"{"openapi": {"a": {"spec": "x.json", "zzz": 1}}}"#,
        ),
        (
            "openapi.<name>.include",
            r#"{"openapi": {"a": {"spec": "x.json", "include": {"zzz": 1}}}}"#,
        ),
        (
            "openapi.<name>.exclude",
            r#"{"openapi": {"a": {"spec": "x.json", "exclude": {"zzz": 1}}}}"#,
        ),
        (
            "openapi.<name>.credentials.<scheme>",
            r#"{"openapi": {"a": {"spec": "x.json", "credentials": {"s": {"zzz": 1}}}}}"#,
        ),
    ];
    assert_eq!(probes.len(), KEYS.len());
    for (section, probe) in probes {
        let error = parse(probe).unwrap_err();
        let expected = error
            .split("expected")
            .nth(1)
            .unwrap_or_else(|| panic!("{error}"));
        let mut accepted: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        accepted.sort();
        let mut listed = KEYS.iter().find(|(s, _)| *s == section).unwrap().1.to_vec();
        listed.sort();
        assert_eq!(accepted, listed, "section `{section}`: {error}");
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for (key, _) in ALIASES.iter().chain(SERVER_LISTS) {
        assert!(
            readme.contains(&format!("`{key}`")),
            "the README does not say codemode reads `{key}`"
        );
    }
    for (section, keys) in KEYS {
        for key in *keys {
            assert!(
                readme.contains(&format!("`{key}`")) || readme.contains(&format!("\"{key}\"")),
                "the README does not document `{section}.{key}`"
            );
        }
    }
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_json() {
    let config = parse("\u{feff}{\"limits\": {\"timeoutMs\": 1234}}").unwrap();
    assert_eq!(config.limits.sandbox.timeout_ms, 1234);
}

#[test]
fn relative_paths_of_a_server_are_relative_to_the_config_file() {
    let text = r#"{"mcpServers": {
        "local": {"command": "./bin/server", "cwd": "work"},
        "onpath": {"command": "npx", "cwd": "/srv"}
    }}"#;
    let config = Config::parse(
        Path::new("/etc/codemode/codemode.json"),
        text,
        &HashMap::new(),
    )
    .unwrap();
    let Transport::Stdio { command, cwd, .. } = &config.servers["local"].transport else {
        panic!("stdio");
    };
    assert_eq!(command, "/etc/codemode/./bin/server");
    assert_eq!(cwd.as_deref(), Some(Path::new("/etc/codemode/work")));
    let Transport::Stdio { command, cwd, .. } = &config.servers["onpath"].transport else {
        panic!("stdio");
    };
    assert_eq!(command, "npx", "a name is looked up on PATH");
    assert_eq!(cwd.as_deref(), Some(Path::new("/srv")));
}

#[test]
fn a_principal_may_be_held_to_a_number_of_executions_at_once() {
    let digest = "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a";
    let text = format!(
        r#"{{"auth": {{"maxRunning": 4, "tokens": {{"alice": "sha256:{digest}", "ci": {{"token": "sha256:{digest}", "maxRunning": 16}}}}}}}}"#
    );
    let auth = Config::parse(Path::new("codemode.json"), &text, &HashMap::new())
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.max_running_of("alice"), Some(4));
    assert_eq!(auth.max_running_of("ci"), Some(16));
    assert_eq!(auth.max_running_of("oauth:someone"), Some(4));
    let text = format!(r#"{{"auth": {{"tokens": {{"alice": "sha256:{digest}"}}}}}}"#);
    let auth = Config::parse(Path::new("codemode.json"), &text, &HashMap::new())
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(auth.max_running_of("alice"), None);
    for text in [
        format!(r#"{{"auth": {{"maxRunning": 0, "tokens": {{"a": "sha256:{digest}"}}}}}}"#),
        format!(
            r#"{{"auth": {{"tokens": {{"a": {{"token": "sha256:{digest}", "maxRunning": "many"}}}}}}}}"#
        ),
    ] {
        let error = Config::parse(Path::new("codemode.json"), &text, &HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("maxRunning"), "{error}");
    }
}

#[test]
fn tokens_are_kept_as_digests_and_never_in_plain_text() {
    // sha256("correct horse battery staple")
    let digest = "c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a";
    let env = HashMap::from([(
        "TEAM_TOKEN".to_string(),
        "a-long-enough-team-token".to_string(),
    )]);
    let text = format!(
        r#"{{"auth": {{"tokens": {{"alice": "sha256:{digest}", "team": "${{TEAM_TOKEN}}"}}}}}}"#
    );
    let config = Config::parse(Path::new("codemode.json"), &text, &env).unwrap();
    let auth = config.auth.unwrap();
    assert_eq!(
        auth.principal("correct horse battery staple"),
        Some("alice")
    );
    assert_eq!(auth.principal("a-long-enough-team-token"), Some("team"));
    assert_eq!(auth.principal("guess"), None);
    assert!(
        !format!("{auth:?}").contains(digest),
        "digests stay out of debug output"
    );
    for (text, message) in [
        (
            r#"{"auth": {"tokens": {"bob": "hunter2-hunter2-hunter2"}}}"#,
            "auth.tokens.bob: a token is not kept in the config as it is",
        ),
        (
            r#"{"auth": {"tokens": {"bob": "sha256:abc"}}}"#,
            "auth.tokens.bob: a digest is `sha256:` and 64 hexadecimal digits",
        ),
        (r#"{"auth": {"tokens": {}}}"#, "auth.tokens: names no token"),
        (
            r#"{"auth": {"tokens": {"bob": "${SHORT}"}}}"#,
            "auth.tokens.bob: the token is under 16 characters",
        ),
    ] {
        let env = HashMap::from([("SHORT".to_string(), "short".to_string())]);
        let error = Config::parse(Path::new("codemode.json"), text, &env)
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{error}");
        assert!(
            !error.contains("hunter2") && !error.contains("short\""),
            "{error}"
        );
    }
}

#[test]
fn an_authorization_server_is_named_with_codemodes_resource() {
    let config = parse(
        r#"{"auth": {"jwt": {"issuer": "https://auth.example", "resource": "https://codemode.example/mcp", "scopes": ["codemode"]}}}"#,
    )
    .unwrap();
    let jwt = config.auth.unwrap().jwt.unwrap();
    assert_eq!(jwt.issuer, "https://auth.example");
    assert_eq!(jwt.scopes, ["codemode"]);
    for (text, message) in [
        (
            r#"{"auth": {"jwt": {"resource": "https://c/mcp"}}}"#,
            "auth.jwt.issuer: is missing",
        ),
        (
            r#"{"auth": {"jwt": {"issuer": "https://a"}}}"#,
            "auth.jwt.resource: is missing",
        ),
        (
            r#"{"auth": {"jwt": {"issuer": "auth.example", "resource": "https://c/mcp"}}}"#,
            "auth.jwt.issuer: must start with https://",
        ),
    ] {
        let error = parse(text).unwrap_err();
        assert!(error.contains(message), "{error}");
    }
}

/// Numbers too large or small for a clock are refused when the config is read (they would
/// stop the gateway when it starts).
#[test]
fn numbers_no_clock_can_hold_are_refused() {
    let error = parse(r#"{"cache": {"maxAgeHours": 1e16}}"#).unwrap_err();
    assert!(
        error.contains("cache.maxAgeHours: must be a number of hours, from 0 to 100000"),
        "{error}"
    );
    let error =
        parse(r#"{"mcpServers": {"a": {"command": "x", "limits": {"maxPerSecond": 1e-20}}}}"#)
            .unwrap_err();
    assert!(
        error.contains("maxPerSecond: must be a number from 0.0001"),
        "{error}"
    );
}

#[test]
fn an_http_server_signs_in_unless_told_not_to_or_given_a_token() {
    let oauth = |entry: &str| {
        let config = parse(&format!(r#"{{"mcpServers": {{"a": {entry}}}}}"#)).unwrap();
        match &config.servers["a"].transport {
            Transport::Http { oauth, .. } => oauth.clone(),
            _ => panic!("not HTTP"),
        }
    };
    assert_eq!(
        oauth(r#"{"url": "https://a.example/mcp"}"#),
        Some(Default::default())
    );
    assert_eq!(
        oauth(r#"{"url": "https://a.example/mcp", "oauth": false}"#),
        None
    );
    assert_eq!(
        oauth(r#"{"url": "https://a.example/mcp", "headers": {"authorization": "Bearer x"}}"#),
        None
    );
    // Gemini CLI's switch, and Codex's scopes beside the entry's keys.
    assert_eq!(
        oauth(r#"{"url": "https://a.example/mcp", "oauth": {"enabled": false}}"#),
        None
    );
    let codex = oauth(r#"{"url": "https://a.example/mcp", "scopes": ["read"]}"#).unwrap();
    assert_eq!(codex.scopes, ["read"]);
    // Cursor's pre-registered client.
    let cursor = oauth(
        r#"{"url": "https://a.example/mcp", "auth": {"CLIENT_ID": "c", "CLIENT_SECRET": "s", "scopes": ["read"]}}"#,
    )
    .unwrap();
    assert_eq!(cursor.client_id.as_deref(), Some("c"));
    assert_eq!(cursor.client_secret.as_deref(), Some("s"));
    assert_eq!(cursor.scopes, ["read"]);
    let wrong = parse(
        r#"{"mcpServers": {"a": {"url": "https://a.example/mcp", "auth": {"CLIENT_ID": "c", "zzz": 1}}}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(wrong.contains("mcpServers.a.auth"), "{wrong}");
    let machine = oauth(
        r#"{"url": "https://a.example/mcp", "oauth": {"grant": "client_credentials", "clientId": "c", "clientSecret": "s"}}"#,
    )
    .unwrap();
    assert!(machine.client_credentials);
    let enterprise = oauth(
        r#"{"url": "https://a.example/mcp", "oauth": {"grant": "enterprise", "clientId": "c", "idToken": "t0ken", "idpIssuer": "https://idp.example", "idpClientId": "i"}}"#,
    )
    .unwrap();
    assert!(enterprise.unattended());
    assert!(
        !format!("{enterprise:?}").contains("t0ken"),
        "the ID token is not in Debug"
    );
    assert!(
        !format!("{machine:?}").contains("\"s\""),
        "the secret is not in Debug"
    );
}

#[test]
fn a_wrong_oauth_is_refused_with_its_key() {
    for (oauth, says) in [
        (
            r#"{"grant": "password"}"#,
            "mcpServers.a.oauth.grant: must be",
        ),
        (
            r#"{"clientSecret": "s"}"#,
            "mcpServers.a.oauth.clientSecret: goes with `clientId`",
        ),
        (
            r#"{"redirectUri": "https://a.example/cb"}"#,
            "mcpServers.a.oauth.redirectUri: must be a loopback URL",
        ),
        (
            r#"{"redirectUri": "http://127.0.0.1:1@10.0.0.5:8976/cb"}"#,
            "must be a loopback URL",
        ),
        (
            r#"{"redirectUri": "http://127.0.0.1/cb"}"#,
            "must be a loopback URL with a port",
        ),
        (
            r#"{"clientMetadataUrl": "http://a.example/c.json"}"#,
            "must be an https URL",
        ),
        (
            r#"{"grant": "client_credentials"}"#,
            "mcpServers.a.oauth.clientId: is needed",
        ),
        (
            r#"{"grant": "client_credentials", "clientId": "c"}"#,
            "takes one of `clientSecret` and `privateKey`",
        ),
        (
            r#"{"privateKey": "-----BEGIN KEY-----"}"#,
            "goes with \"grant\": \"client_credentials\"",
        ),
        (r#"{"signingAlgorithm": "HS256"}"#, "must be RS256"),
        (r#"{"clientld": "c"}"#, "did you mean `clientId`?"),
        (
            r#"{"idToken": "t"}"#,
            "mcpServers.a.oauth.idToken: goes with \"grant\": \"enterprise\"",
        ),
        (
            r#"{"grant": "enterprise", "clientId": "c"}"#,
            "mcpServers.a.oauth.idToken: is needed",
        ),
        (
            r#"{"grant": "enterprise", "idToken": "t"}"#,
            "mcpServers.a.oauth.clientId: is needed",
        ),
    ] {
        let text = format!(
            r#"{{"mcpServers": {{"a": {{"url": "https://a.example/mcp", "oauth": {oauth}}}}}}}"#
        );
        let error = parse(&text).unwrap_err();
        assert!(error.contains(says), "{oauth}: {error}");
    }
}

#[test]
fn jwt_policies_are_for_a_subject_or_a_scope() {
    let jwt = |policies: &str| {
        parse(&format!(
            r#"{{"auth": {{"jwt": {{"issuer": "https://a.example", "resource": "https://c.example/mcp", "policies": {policies}}}}}}}"#
        ))
    };
    let config = jwt(r#"{"sub:ada": {"*": "deny"}, "scope:read": {"*": "ask"}}"#).unwrap();
    let auth = config.auth.unwrap();
    assert!(auth.policies.contains_key("sub:ada") && auth.policies.contains_key("scope:read"));
    let error = jwt(r#"{"ada": {"*": "deny"}}"#).unwrap_err();
    assert!(
        error.contains("auth.jwt.policies.ada: a policy here is for `sub:SUBJECT`"),
        "{error}"
    );
    let error = jwt(r#"{"sub:ada": "deny"}"#).unwrap_err();
    assert!(error.contains("must be an object of rules"), "{error}");
}

#[test]
fn a_token_in_headers_and_oauth_do_not_go_together() {
    let error = parse(
        r#"{"mcpServers": {"a": {"url": "https://a.example/mcp", "headers": {"Authorization": "Bearer x"}, "oauth": {"scopes": ["r"]}}}}"#,
    )
    .unwrap_err();
    assert!(
        error.contains("mcpServers.a.oauth: goes with no `Authorization`"),
        "{error}"
    );
}

#[test]
fn redis_is_a_url_or_an_object_and_its_password_stays_out_of_debug_output() {
    let parse = |text: &str| {
        let env = HashMap::from([(
            "REDIS_URL".to_string(),
            "redis://:hunter2@redis:6379/1".to_string(),
        )]);
        Config::parse(Path::new("codemode.json"), text, &env)
    };
    let redis = parse(r#"{"redis": "redis://redis:6379"}"#)
        .unwrap()
        .redis
        .unwrap();
    assert_eq!(
        (redis.url.as_str(), redis.prefix.as_str()),
        ("redis://redis:6379", "codemode:")
    );
    let redis = parse(r#"{"redis": {"url": "${REDIS_URL}", "prefix": "team-a:"}}"#)
        .unwrap()
        .redis
        .unwrap();
    assert_eq!(redis.url, "redis://:hunter2@redis:6379/1");
    assert_eq!(redis.prefix, "team-a:");
    assert!(!format!("{redis:?}").contains("hunter2"), "{redis:?}");
    assert!(parse("{}").unwrap().redis.is_none());
    for (text, message) in [
        (
            r#"{"redis": "http://redis:6379"}"#,
            "redis.url: must be a URL",
        ),
        (r#"{"redis": {"prefix": "a:"}}"#, "redis.url: is missing"),
        (r#"{"redis": 6379}"#, "redis"),
    ] {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains(message), "{error}");
    }
}
