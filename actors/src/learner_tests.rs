use speedlead_topics::{event_type, Outcome};
use uuid::Uuid;

use super::*;
use crate::intelligence::ModelSettings;
use crate::model::BIAS_BUCKET;
use crate::store::MemoryStore;
use crate::testkit::envelope_record;

async fn learner(store: Arc<MemoryStore>) -> LearnerStage {
    let model = ModelSnapshot::load(store.clone(), &ModelSettings::default()).await.unwrap();
    LearnerStage::new(store, model, LearningConfig::default(), Duration::from_secs(3600))
}

fn outcome(offset: i64, lead_id: Uuid, converted: bool) -> Record {
    envelope_record(offset, event_type::OUTCOME, Outcome { lead_id, converted, value: None })
}

async fn stored_model(store: &MemoryStore) -> crate::model::Model {
    crate::model::Model::from_buckets(store.model_buckets("default").await.unwrap())
}

#[tokio::test]
async fn an_outcome_teaches_the_stored_model_once() {
    let store = Arc::new(MemoryStore::new());
    let stage = learner(store.clone()).await;
    let lead = Uuid::from_u128(7);
    let features = vec![(11_u32, 1.0_f32), (42, 1.0)];
    let ttl = Duration::from_secs(60);
    store
        .replace(&features_key(&lead.to_string()), &serde_json::to_string(&features).unwrap(), ttl)
        .await
        .unwrap();

    stage.process(&outcome(1, lead, true)).await.unwrap();
    let once = stored_model(&store).await;
    assert_eq!((once.outcomes, once.positives), (1, 1));
    assert!(once.weights[&11] > 0.0 && once.weights[&42] > 0.0, "a conversion raises its features");
    assert!(once.to_buckets().iter().any(|&(b, v)| b == BIAS_BUCKET && v > 0.0));

    stage.process(&outcome(2, lead, true)).await.unwrap();
    assert_eq!(stored_model(&store).await, once, "a redelivered outcome teaches nothing");
}

#[tokio::test]
async fn an_outcome_without_kept_features_is_skipped() {
    let store = Arc::new(MemoryStore::new());
    let stage = learner(store.clone()).await;
    assert!(stage.process(&outcome(1, Uuid::from_u128(9), false)).await.unwrap().is_empty());
    assert_eq!(stored_model(&store).await.outcomes, 0);
}
