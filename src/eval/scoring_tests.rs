use super::*;

#[test]
fn auc_counts_pairs_ranked_right_and_splits_ties() {
    assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), 1.0);
    assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), 0.0);
    assert_eq!(auc(&[0.5; 4], &[false, true, false, true]), 0.5);
    // Pairs (pos, neg): (0.8 vs 0.3) right, (0.8 vs 0.8) tie, (0.1 vs 0.3) wrong, (0.1 vs 0.8) wrong.
    assert_eq!(auc(&[0.8, 0.1, 0.3, 0.8], &[true, true, false, false]), 0.125 + 0.25);
    assert_eq!(auc(&[0.3, 0.4], &[true, true]), 0.5);
}

#[test]
fn generated_leads_repeat_with_their_seed() {
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
    let (mut a, mut b) = (LeadGenerator::new(3, now), LeadGenerator::new(3, now));
    for _ in 0..50 {
        let (x, y) = (a.next_lead(), b.next_lead());
        assert_eq!((x.lead, x.converted), (y.lead, y.converted));
    }
}

#[test]
fn the_learned_score_improves_with_outcomes_and_beats_the_rules() {
    for seed in [1, 2, 3] {
        let report = evaluate(seed, 5000, 4000);
        println!("{report}");
        let (first, last) = (report.checkpoints[0], *report.checkpoints.last().unwrap());
        assert_eq!(last.outcomes, 5000);
        assert_eq!(first.model_auc, 0.5, "an untrained model cannot tell leads apart");
        assert_eq!(first.blended_auc, first.rules_auc, "below min_outcomes the score is the rules'");
        let after_500 = report.checkpoints.iter().find(|c| c.outcomes == 500).unwrap();
        assert!(after_500.model_auc < last.model_auc, "more outcomes, better model:\n{report}");
        assert!(first.blended_auc < last.blended_auc, "{report}");
        assert!(last.model_auc > last.rules_auc + 0.03, "the model beats the rules:\n{report}");
        assert!(last.blended_auc > last.rules_auc + 0.03, "so does the blended score:\n{report}");
        assert!(last.blended_auc < report.ceiling_auc, "nothing beats the truth:\n{report}");
    }
}
