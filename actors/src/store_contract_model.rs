//! The learned model's part of the store contract: steps add up, concurrent steps all land, a bad
//! step is refused whole, and an outcome's step is applied once.

use std::sync::Arc;

use super::{unique, TTL};
use crate::store::{Store, StoreError};

pub(super) async fn run_all(store: Arc<dyn Store>) {
    model_steps_add_up(&*store).await;
    concurrent_model_steps_all_land(store.clone()).await;
    non_finite_model_step_is_refused_whole(&*store).await;
    an_outcomes_step_is_applied_once(store.clone()).await;
}

/// Redis keeps `HINCRBYFLOAT` results to 17 significant digits, so weights are compared closely,
/// not bit for bit.
fn assert_weights(got: &[(u32, f64)], want: &[(u32, f64)], check: &str) {
    let buckets = |w: &[(u32, f64)]| w.iter().map(|&(b, _)| b).collect::<Vec<_>>();
    assert_eq!(buckets(got), buckets(want), "{check}: buckets, got {got:?}");
    for (&(bucket, g), &(_, w)) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{check}: bucket {bucket} is {g}, want {w}");
    }
}

async fn model_steps_add_up(store: &dyn Store) {
    let (model, other) = (unique("model"), unique("model"));
    assert!(store.model_buckets(&model).await.unwrap().is_empty(), "model_steps_add_up: new model is empty");
    store.apply_model_step(&model, &[]).await.unwrap();
    assert!(store.model_buckets(&model).await.unwrap().is_empty(), "model_steps_add_up: empty step");
    store.apply_model_step(&model, &[(u32::MAX, 1.0), (7, -0.25), (1, 0.5)]).await.unwrap();
    store.apply_model_step(&model, &[(1, 0.25), (262_143, 1e-7), (1, 0.125)]).await.unwrap();
    store.apply_model_step(&other, &[(1, 3.0)]).await.unwrap();
    store.apply_model_step(&model, &[]).await.unwrap();
    let want = [(1, 0.875), (7, -0.25), (262_143, 1e-7), (u32::MAX, 1.0)];
    assert_weights(&store.model_buckets(&model).await.unwrap(), &want, "model_steps_add_up");
    assert_weights(
        &store.model_buckets(&other).await.unwrap(),
        &[(1, 3.0)],
        "model_steps_add_up: other model",
    );
}

async fn concurrent_model_steps_all_land(store: Arc<dyn Store>) {
    let model = unique("model");
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let (store, model) = (store.clone(), model.clone());
            tokio::spawn(
                async move { store.apply_model_step(&model, &[(0, 1.0), (100 + i, 0.5)]).await.unwrap() },
            )
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let want: Vec<_> = std::iter::once((0, 16.0)).chain((0..16).map(|i| (100 + i, 0.5))).collect();
    assert_weights(&store.model_buckets(&model).await.unwrap(), &want, "concurrent_model_steps_all_land");
}

async fn non_finite_model_step_is_refused_whole(store: &dyn Store) {
    let model = unique("model");
    store.apply_model_step(&model, &[(1, 1.0)]).await.unwrap();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = store.apply_model_step(&model, &[(1, 1.0), (2, bad)]).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "non_finite_model_step_is_refused_whole: {err:?}");
    }
    assert_weights(
        &store.model_buckets(&model).await.unwrap(),
        &[(1, 1.0)],
        "non_finite_model_step_is_refused_whole",
    );
}

async fn an_outcomes_step_is_applied_once(store: Arc<dyn Store>) {
    let (model, outcome) = (unique("model"), unique("lead"));
    let step = [(3_u32, 0.5), (u32::MAX - 1, 1.0)];
    let tries = (0..8).map(|_| {
        let (store, model, outcome) = (store.clone(), model.clone(), outcome.clone());
        tokio::spawn(async move { store.apply_model_step_once(&model, &outcome, &step, TTL).await.unwrap() })
    });
    let mut applied = 0;
    for t in tries.collect::<Vec<_>>() {
        applied += usize::from(t.await.unwrap());
    }
    assert_eq!(applied, 1, "an_outcomes_step_is_applied_once: one of eight concurrent tries");
    assert_weights(&store.model_buckets(&model).await.unwrap(), &step, "an_outcomes_step_is_applied_once");
    let other = store.apply_model_step_once(&model, &unique("lead"), &step, TTL).await.unwrap();
    assert!(other, "an_outcomes_step_is_applied_once: another outcome applies");
    let bad = store.apply_model_step_once(&model, &unique("lead"), &[(1, f64::NAN)], TTL).await;
    assert!(matches!(bad, Err(StoreError::Corrupt(_))), "an_outcomes_step_is_applied_once: {bad:?}");
}
