//! Scripted faults for the fake Odoo: which calls they hit (by model, method and position among
//! the matching calls from the moment they are injected) and what happens to those calls. The
//! book is consulted once per call, before it runs; the server carries the fault out.

use std::time::Duration;

/// What an injected fault does to the call it hits.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// HTTP 500 with Werkzeug's HTML page; the call has no effect.
    Http500,
    /// The call takes effect at its normal time, but the answer comes only after this delay
    /// (longer than the client's timeout: the client gives up although the effect happened).
    Delay(Duration),
    /// The call takes effect (committed), then the connection is closed without any answer.
    CommitThenDrop,
    /// psycopg2's `could not serialize access due to concurrent update`; no effect.
    SerializationFailure,
    /// `odoo.exceptions.AccessDenied`, as after a password change; no effect.
    AccessDenied,
    /// `odoo.exceptions.UserError` with this message; no effect.
    UserError(String),
}

/// Which calls a fault hits. Service calls are matched with model `"common"` (or `"db"`), and
/// `/web/webclient/version_info` with model `"web"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallMatcher<'a> {
    /// The model (`None`: any).
    pub model: Option<&'a str>,
    /// The method (`None`: any).
    pub method: Option<&'a str>,
    /// Hit from the nth matching call after injection on (1-based); `None`: from the first.
    pub nth: Option<usize>,
    /// How many matching calls are hit; 0 means every one from then on.
    pub times: usize,
}

impl<'a> CallMatcher<'a> {
    /// Every call of `method` on `model`.
    pub fn call(model: &'a str, method: &'a str) -> Self {
        Self {
            model: Some(model),
            method: Some(method),
            nth: None,
            times: 0,
        }
    }

    /// Every call.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only from the nth matching call on.
    pub fn nth(self, nth: usize) -> Self {
        Self { nth: Some(nth), ..self }
    }

    /// Only this many calls.
    pub fn times(self, times: usize) -> Self {
        Self { times, ..self }
    }

    /// Just one call.
    pub fn once(self) -> Self {
        self.times(1)
    }
}

/// A fault to inject: which calls, and what happens to them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault<'a> {
    pub matcher: CallMatcher<'a>,
    pub kind: FaultKind,
}

#[derive(Debug, Clone)]
struct Armed {
    model: Option<String>,
    method: Option<String>,
    first: usize,
    times: usize,
    seen: usize,
    fired: usize,
    kind: FaultKind,
}

/// The faults waiting for calls.
#[derive(Debug, Default)]
pub struct FaultBook {
    armed: Vec<Armed>,
}

impl FaultBook {
    pub fn inject(&mut self, fault: Fault<'_>) {
        self.armed.push(Armed {
            model: fault.matcher.model.map(str::to_owned),
            method: fault.matcher.method.map(str::to_owned),
            first: fault.matcher.nth.unwrap_or(1).max(1),
            times: fault.matcher.times,
            seen: 0,
            fired: 0,
            kind: fault.kind,
        });
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    /// Counts the call against every matching fault and returns the first that hits it.
    pub fn take(&mut self, model: &str, method: &str) -> Option<FaultKind> {
        let mut hit = None;
        for armed in &mut self.armed {
            let matches = armed.model.as_deref().is_none_or(|m| m == model)
                && armed.method.as_deref().is_none_or(|m| m == method);
            if !matches {
                continue;
            }
            armed.seen += 1;
            let exhausted = armed.times != 0 && armed.fired >= armed.times;
            if hit.is_none() && armed.seen >= armed.first && !exhausted {
                armed.fired += 1;
                hit = Some(armed.kind.clone());
            }
        }
        self.armed.retain(|a| a.times == 0 || a.fired < a.times);
        hit
    }

    /// Faults not yet used up.
    pub fn pending(&self) -> usize {
        self.armed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_and_times_select_the_calls() {
        let mut book = FaultBook::default();
        book.inject(Fault {
            matcher: CallMatcher {
                model: Some("stock.picking"),
                method: Some("create"),
                nth: Some(2),
                times: 2,
            },
            kind: FaultKind::Http500,
        });
        assert_eq!(book.take("stock.picking", "create"), None);
        assert_eq!(book.take("stock.move", "create"), None);
        assert_eq!(book.take("stock.picking", "create"), Some(FaultKind::Http500));
        assert_eq!(book.take("stock.picking", "create"), Some(FaultKind::Http500));
        assert_eq!(book.take("stock.picking", "create"), None);
        assert_eq!(book.pending(), 0);
    }

    #[test]
    fn zero_times_means_forever() {
        let mut book = FaultBook::default();
        book.inject(Fault {
            matcher: CallMatcher::any(),
            kind: FaultKind::AccessDenied,
        });
        for _ in 0..5 {
            assert_eq!(book.take("res.partner", "search"), Some(FaultKind::AccessDenied));
        }
    }
}
