//! The subscriptions in force: those in the config file and those made through the admin API
//! (kept in the [`WebhookStore`], so every instance and every restart has them).
//!
//! Each instance re-reads the stored ones every few seconds: a subscription made on one instance
//! gets the events the others enqueue soon after, without a pub/sub channel to lose. The instance
//! that made or removed it sees the change at once.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine;
use speedlead_actors::store::StoreError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::settings::Subscription;
use super::store::WebhookStore;
use crate::notify::channels::Secret;

/// How often the stored subscriptions are re-read.
const REFRESH: Duration = Duration::from_secs(2);

pub struct SubscriptionBook {
    configured: Vec<Subscription>,
    store: Arc<dyn WebhookStore>,
    allow_private: bool,
    current: ArcSwap<Vec<Subscription>>,
}

/// Why the admin API could not add a subscription.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// A field is wrong: (field, problem).
    Invalid(String, String),
    /// The id is taken (by the config file or an earlier API call).
    Taken(String),
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

impl SubscriptionBook {
    pub async fn load(
        configured: Vec<Subscription>,
        store: Arc<dyn WebhookStore>,
        allow_private: bool,
    ) -> Result<Arc<Self>, StoreError> {
        let book = Arc::new(SubscriptionBook {
            configured,
            store,
            allow_private,
            current: ArcSwap::from_pointee(Vec::new()),
        });
        book.refresh().await?;
        Ok(book)
    }

    /// Every subscription, the config file's first.
    pub fn current(&self) -> Arc<Vec<Subscription>> {
        self.current.load_full()
    }

    pub fn get(&self, id: &str) -> Option<Subscription> {
        self.current().iter().find(|s| s.id == id).cloned()
    }

    /// Whether `id` comes from the config file (which only a config change can remove).
    pub fn is_configured(&self, id: &str) -> bool {
        self.configured.iter().any(|s| s.id == id)
    }

    pub async fn refresh(&self) -> Result<(), StoreError> {
        let stored = self.store.subscriptions().await?;
        let mut all = self.configured.clone();
        // A config subscription wins over a stored one of the same id (the API refuses to make
        // one, but the config may have gained it since).
        all.extend(stored.into_iter().filter(|s| !self.is_configured(&s.id)));
        self.current.store(Arc::new(all));
        Ok(())
    }

    /// Re-reads the stored subscriptions every [`REFRESH`] until `stopped` turns true.
    pub fn keep_fresh(self: &Arc<Self>, mut stopped: watch::Receiver<bool>) -> JoinHandle<()> {
        let book = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(REFRESH) => {}
                    _ = stopped.changed() => return,
                }
                if let Err(e) = book.refresh().await {
                    tracing::warn!(error = %e, "webhook subscriptions not re-read; keeping the last ones");
                }
            }
        })
    }

    /// Adds a subscription made through the admin API. A missing id or secret is generated (the
    /// caller shows the secret once); returns the subscription as stored.
    pub async fn add(&self, mut subscription: Subscription) -> Result<Subscription, Refused> {
        if subscription.id.trim().is_empty() {
            subscription.id = uuid::Uuid::new_v4().simple().to_string();
        }
        if subscription.secrets.is_empty() {
            subscription.secrets = vec![new_secret()];
        }
        if let Some((field, problem)) = subscription.problems(self.allow_private).into_iter().next() {
            return Err(Refused::Invalid(field, problem));
        }
        if self.is_configured(&subscription.id) || !self.store.add_subscription(&subscription).await? {
            return Err(Refused::Taken(subscription.id));
        }
        self.refresh().await?;
        Ok(subscription)
    }

    /// Removes a subscription made through the admin API; `false` when there is none.
    pub async fn remove(&self, id: &str) -> Result<bool, StoreError> {
        let removed = self.store.remove_subscription(id).await?;
        self.refresh().await?;
        Ok(removed)
    }
}

/// A fresh `whsec_` secret: 32 bytes from two v4 UUIDs, which come from the operating system's
/// CSPRNG (244 random bits), base64 as Standard Webhooks expects.
fn new_secret() -> Secret {
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    Secret::new(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::store::MemoryWebhookStore;

    fn configured() -> Subscription {
        Subscription {
            id: "from-config".into(),
            url: "https://hooks.example.com/config".into(),
            events: vec![],
            secrets: vec![Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")],
            ordered_by_lead: false,
        }
    }

    fn asked(id: &str, url: &str) -> Subscription {
        Subscription { id: id.into(), url: url.into(), ..Default::default() }
    }

    #[tokio::test]
    async fn an_api_subscription_gets_a_secret_joins_the_book_and_leaves_it() {
        let store = Arc::new(MemoryWebhookStore::default());
        let book = SubscriptionBook::load(vec![configured()], store.clone(), false).await.unwrap();
        let added = book.add(asked("", "https://crm.example.com/hook")).await.unwrap();
        assert!(!added.id.is_empty(), "an id is made up");
        let secret = added.secrets[0].expose();
        assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
        let ids: Vec<String> = book.current().iter().map(|s| s.id.clone()).collect();
        assert_eq!(ids, vec!["from-config".to_string(), added.id.clone()]);

        // Another instance's book sees it on its next refresh.
        let other = SubscriptionBook::load(vec![configured()], store, false).await.unwrap();
        assert_eq!(other.get(&added.id), Some(added.clone()));

        assert!(book.remove(&added.id).await.unwrap());
        assert_eq!(book.get(&added.id), None);
    }

    #[tokio::test]
    async fn the_api_refuses_taken_ids_and_internal_addresses_naming_the_field() {
        let book = SubscriptionBook::load(vec![configured()], Arc::new(MemoryWebhookStore::default()), false)
            .await
            .unwrap();
        let taken = book.add(asked("from-config", "https://x.example.com/")).await;
        assert_eq!(taken, Err(Refused::Taken("from-config".into())));
        let internal = book.add(asked("metadata", "http://169.254.169.254/latest")).await;
        assert!(matches!(internal, Err(Refused::Invalid(field, _)) if field == "url"));
        let odd =
            Subscription { events: vec!["lead.exploded".into()], ..asked("odd", "https://x.example.com/") };
        assert!(matches!(book.add(odd).await, Err(Refused::Invalid(field, _)) if field == "events"));
        assert!(
            !book.remove("from-config").await.unwrap(),
            "config subscriptions are not the API's to remove"
        );
    }
}
