//! Coordinate search over the ranking's parameters on the training half of the search
//! evaluation (never the test half): `cargo run --release -p codemode-search --example
//! tune_search [DATA_DIR]`. Each round tries scaling every knob by a few factors and keeps
//! a change when the sum of any@1, any@5, any@10 and all@10 on the training tasks goes up.

#![allow(clippy::print_stdout)] // a report on stdout is what this file is for

use std::path::PathBuf;

use search::Params;

fn score(data: &std::path::Path, params: &Params) -> f64 {
    let report = match search::eval::run_with(data, params) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    let train = &report.codemode["train"];
    let sum = train.any_at_1 + train.any_at_5 + train.any_at_10 + train.all_at_10;
    (sum * 1000.0).round() / 1000.0
}

/// Scales knob `knob` of `params` by `factor` (a knob at zero starts from `factor / 2`).
fn scale(params: &mut Params, knob: usize, factor: f64) {
    let value = match knob {
        k if k < 14 => {
            let field = &mut params.fields[k / 2];
            if k % 2 == 0 {
                &mut field.0
            } else {
                &mut field.1
            }
        }
        14 => &mut params.k1,
        15 => &mut params.name_bonus,
        16 => &mut params.namespace_lift,
        17 => &mut params.synonym_weight,
        18 => &mut params.incidental_weight,
        _ => &mut params.cover,
    };
    *value = if *value == 0.0 {
        factor / 2.0
    } else {
        *value * factor
    };
    if knob < 14 && knob % 2 == 1 {
        *value = value.min(1.0);
    }
}

fn main() {
    let data = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "data/livemcpbench".into()),
    );
    let mut best = Params::default();
    let mut best_score = score(&data, &best);
    println!("defaults: {best_score}");
    for round in 0..3 {
        for knob in 0..20 {
            for factor in [0.0, 0.5, 0.75, 1.5, 2.0] {
                let mut params = best.clone();
                scale(&mut params, knob, factor);
                let score = score(&data, &params);
                if score > best_score {
                    println!("round {round}, knob {knob} x{factor}: {score}");
                    best = params;
                    best_score = score;
                }
            }
        }
    }
    println!("{best:#?}\n{best_score}");
}
