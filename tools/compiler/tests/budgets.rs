//! Any budget gives a report, never a panic, and a design reported as fitting fits.

use fibha_compiler::board::{Board, Budget, Overrides};
use fibha_compiler::models;
use fibha_compiler::planner::{PlanOptions, Planner};
use fibha_compiler::report::{Search, plan_document};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn every_budget_is_reported_and_fitting_designs_fit(
        model in 0usize..5,
        dsp in 1u32..400,
        bram in 1u32..300,
        board in 0usize..3,
    ) {
        let board = Board::resolve(Board::shipped_names()[board]).unwrap();
        let budget = Budget::new(&board, Overrides { dsp: Some(dsp.min(board.device.dsp)), bram36: Some(bram), pack_int8: false }).unwrap();
        let m = models::load(models::shipped_names()[model]).unwrap();
        let plans = Planner::new(&m.network, &budget, PlanOptions { firb: true, pe_steps: 8, ..PlanOptions::default() }).plan(&budget);
        let doc = plan_document(&m.network, &board, &budget, &plans, Search::Best, true);
        for f in [&doc.modelled.fibha, &doc.modelled.seml, &doc.modelled.seml_fibha, &doc.modelled.sesl, &doc.modelled.sesl_firb] {
            if f.fits {
                prop_assert!(f.dsp <= budget.dsp && f.bram36 <= budget.bram36, "{f:?}");
                prop_assert!(f.fps_batch1 > 0.0 && f.fps_batch1.is_finite());
                // Overlapping images never makes a design slower than one at a time.
                prop_assert!(f.fps_pipelined >= f.fps_batch1 * (1.0 - 1e-9), "{f:?}");
            } else {
                prop_assert!(!f.problems.is_empty());
            }
        }
    }
}
