//! Search quality on LiveMCPBench, as `codemode eval search` reports it: a floor that catches
//! regressions, and the margin over plain BM25.

use std::path::Path;

#[test]
fn search_beats_plain_bm25_on_livemcpbench() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/livemcpbench");
    let report = search::eval::run(&data).expect("the benchmark loads");
    assert_eq!(report.tools, 527);
    let ours = &report.codemode["all"];
    let baseline = &report.bm25["all"];
    assert_eq!(ours.tasks, 95);
    assert!(
        ours.any_at_5 >= 0.72,
        "any-gold@5 fell to {}",
        ours.any_at_5
    );
    assert!(
        ours.any_at_10 >= 0.77,
        "any-gold@10 fell to {}",
        ours.any_at_10
    );
    for half in ["train", "test"] {
        let (ours, baseline) = (&report.codemode[half], &report.bm25[half]);
        assert!(
            ours.any_at_5 > baseline.any_at_5,
            "{half}: {} vs BM25 {}",
            ours.any_at_5,
            baseline.any_at_5
        );
        assert!(
            ours.any_at_10 > baseline.any_at_10,
            "{half}: {} vs BM25 {}",
            ours.any_at_10,
            baseline.any_at_10
        );
    }
    assert!(ours.all_at_10 > baseline.all_at_10);
}
