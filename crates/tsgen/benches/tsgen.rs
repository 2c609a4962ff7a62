//! `cargo bench -p codemode-tsgen`: declarations for every tool in `data/` (about 1,060 tools).

#[path = "../tests/catalogs/mod.rs"]
mod catalogs;

fn main() {
    divan::main();
}

/// The whole `.d.ts` of every tool.
#[divan::bench]
fn all_catalogs_to_declarations(bencher: divan::Bencher) {
    let api = tsgen::Api::new(catalogs::everything());
    bencher.bench_local(|| api.declarations());
}

/// Identifiers for every namespace and tool (the tools are moved in, so each run clones them
/// first; the clone is measured too).
#[divan::bench]
fn all_catalogs_to_identifiers(bencher: divan::Bencher) {
    let everything = catalogs::everything();
    bencher.bench_local(|| tsgen::Api::new(everything.clone()));
}

/// The compact rendering of every tool, as search results show them.
#[divan::bench]
fn all_catalogs_to_compact(bencher: divan::Bencher) {
    let api = tsgen::Api::new(catalogs::everything());
    let options = tsgen::Compact::default();
    bencher.bench_local(|| {
        let mut total = 0;
        for ns in api.namespaces() {
            for tool in &ns.tools {
                total += api
                    .compact(&ns.ident, &tool.ident, &options)
                    .map_or(0, |c| c.len());
            }
        }
        total
    });
}
