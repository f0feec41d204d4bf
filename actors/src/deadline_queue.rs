//! The delay queue behind an escalation timer: pending SLA deadlines of one routing domain, earliest
//! first, at most one per lead (re-arming a lead moves its deadline).
//!
//! Ordered by (due, lead) so popping everything due is a walk from the front, and indexed by lead
//! so re-arming and cancelling are cheap: at 100,000 pending deadlines per process each entry costs
//! two small allocations, not a task or a timer wheel slot.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct DeadlineQueue {
    by_due: BTreeSet<(i64, Arc<str>)>,
    due_of: HashMap<Arc<str>, i64>,
}

impl DeadlineQueue {
    /// Sets the lead's deadline (ms since the epoch), replacing any earlier one.
    pub fn arm(&mut self, lead_id: &str, due_ms: i64) {
        let lead: Arc<str> = match self.due_of.get_key_value(lead_id) {
            Some((_, &old)) if old == due_ms => return,
            Some((lead, &old)) => {
                let lead = Arc::clone(lead);
                self.by_due.remove(&(old, Arc::clone(&lead)));
                lead
            }
            None => Arc::from(lead_id),
        };
        self.due_of.insert(Arc::clone(&lead), due_ms);
        self.by_due.insert((due_ms, lead));
    }

    /// Forgets the lead's deadline; true if it had one.
    pub fn cancel(&mut self, lead_id: &str) -> bool {
        match self.due_of.remove_entry(lead_id) {
            Some((lead, due)) => self.by_due.remove(&(due, lead)),
            None => false,
        }
    }

    /// Removes and returns every lead due at or before `now_ms`, earliest first.
    pub fn pop_due(&mut self, now_ms: i64) -> Vec<(String, i64)> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_due.first() {
            if *at > now_ms {
                break;
            }
            let (at, lead) = self.by_due.pop_first().expect("first exists");
            self.due_of.remove(&lead);
            due.push((lead.to_string(), at));
        }
        due
    }

    /// The earliest pending deadline.
    pub fn next_due(&self) -> Option<i64> {
        self.by_due.first().map(|(at, _)| *at)
    }

    pub fn contains(&self, lead_id: &str) -> bool {
        self.due_of.contains_key(lead_id)
    }

    pub fn len(&self) -> usize {
        self.due_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due_of.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_due_leads_earliest_first_and_keeps_the_rest() {
        let mut q = DeadlineQueue::default();
        q.arm("c", 30);
        q.arm("a", 10);
        q.arm("b", 20);
        assert_eq!(q.next_due(), Some(10));
        assert_eq!(q.pop_due(20), vec![("a".to_string(), 10), ("b".to_string(), 20)]);
        assert_eq!(q.len(), 1);
        assert!(q.pop_due(29).is_empty());
        assert_eq!(q.pop_due(i64::MAX), vec![("c".to_string(), 30)]);
        assert!(q.is_empty());
    }

    #[test]
    fn re_arming_moves_a_deadline_and_cancel_forgets_it() {
        let mut q = DeadlineQueue::default();
        q.arm("a", 10);
        q.arm("a", 50);
        q.arm("b", 20);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_due(30), vec![("b".to_string(), 20)], "a moved to 50");
        assert!(q.cancel("a"));
        assert!(!q.cancel("a"));
        assert!(q.pop_due(i64::MAX).is_empty());
        q.arm("a", 5);
        q.arm("a", 5);
        assert_eq!(q.len(), 1);
        assert!(q.contains("a"));
    }
}
