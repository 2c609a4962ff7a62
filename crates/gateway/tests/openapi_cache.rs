//! An OpenAPI source from the catalog cache: served without reading its document, with the
//! same declarations as when it was read, and read anew once the document file's content
//! changes (not when only its time does).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gateway::{Config, Gateway};
use serde_json::json;

fn document(word: &str) -> String {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        "servers": [{"url": "https://pets.example"}],
        "paths": {"/pets": {"get": {
            "operationId": "listPets",
            "summary": format!("List the {word} pets"),
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}
            }}}}
        }}},
        "components": {"schemas": {"Pet": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "kind": {"type": "string", "enum": [word]}}
        }}}
    })
    .to_string()
}

fn config(dir: &Path, spec: &Path) -> Config {
    let text = json!({
        "openapi": {"pets": {"spec": spec}},
        "isolation": "none",
        "cache": {"dir": dir.join("cache")}
    })
    .to_string();
    Config::parse(Path::new("codemode.json"), &text, &Default::default()).expect("a config")
}

/// Whether the catalog came from the cache, and its one search hit's declaration.
fn served(config: &Config, all: bool) -> (bool, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gateway = rt.block_on(async {
        if all {
            Gateway::connect_all(config).await
        } else {
            Gateway::connect(config).await
        }
    });
    let catalog = gateway.catalog();
    let results = catalog
        .search("list pets", None, 1, &Default::default())
        .unwrap();
    (
        catalog.statuses[0].cached,
        results.hits[0].declaration.clone(),
    )
}

fn set_time(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn a_cached_document_is_served_as_read_until_its_content_changes() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("codemode-openapi-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("pets.json");
    std::fs::write(&spec, document("alpha")).unwrap();
    // Changed long enough ago that its size and time vouch for its content.
    set_time(&spec, Duration::from_secs(3600));
    let config = config(&dir, &spec);

    let (cached, read) = served(&config, true);
    assert!(!cached);
    assert!(read.contains("\"alpha\""), "{read}");
    assert!(
        read.contains("name: string"),
        "the component is rendered: {read}"
    );
    let (cached, from_cache) = served(&config, false);
    assert!(cached);
    assert_eq!(from_cache, read);

    // Only its time changes: the content is hashed again, and the same.
    set_time(&spec, Duration::from_secs(1800));
    assert_eq!(served(&config, false), (true, read.clone()));

    // The same size, another content: read anew.
    std::fs::write(&spec, document("omega")).unwrap();
    let (cached, edited) = served(&config, false);
    assert!(!cached);
    assert!(edited.contains("\"omega\""), "{edited}");
    let _ = std::fs::remove_dir_all(&dir);
}
