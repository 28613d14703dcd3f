//! The tool's speed: a MobileNetV2 plan well under a second, a 20-point sweep of the five
//! shipped models in seconds. Prints the timings (run with `--nocapture` to see them).

use std::time::Instant;

use fibha_compiler::board::{Board, Budget, Overrides};
use fibha_compiler::models;
use fibha_compiler::planner::{PlanOptions, Planner};
use fibha_compiler::sweep;

#[test]
fn plan_and_sweep_timings() {
    let board = Board::resolve("zcu102").unwrap();
    let budget = Budget::new(&board, Overrides::default()).unwrap();
    let net = models::load("mobilenet_v2").unwrap().network;
    let started = Instant::now();
    let plans = Planner::new(&net, &budget, PlanOptions::default()).plan(&budget);
    let plan_s = started.elapsed().as_secs_f64();
    assert!(plans.best().eval.fits());
    println!("timing: MobileNetV2 plan on zcu102: {:.1} ms", plan_s * 1e3);
    assert!(plan_s < 1.0, "plan took {plan_s:.3} s");

    let all = models::shipped().unwrap();
    let started = Instant::now();
    let result = sweep::run(&all, &board, &budget, PlanOptions::default(), 20, 0.1).unwrap();
    let sweep_s = started.elapsed().as_secs_f64();
    println!("timing: 20-point sweep of 5 models on zcu102: {sweep_s:.2} s");
    assert_eq!(result.models.len(), 5);
    assert!(result.models.iter().all(|m| m.points.len() == 20));
    assert!(sweep_s < 20.0, "sweep took {sweep_s:.2} s");
}
