//! Simulated clock: wall time plus an adjustable offset.
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<Duration>,
}

impl Clock {
    pub fn advance(&self, by: Duration) {
        let mut o = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *o += by;
    }

    pub fn now(&self) -> jiff::Timestamp {
        let o = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        let span = jiff::SignedDuration::try_from(o).unwrap_or(jiff::SignedDuration::ZERO);
        jiff::Timestamp::now()
            .checked_add(span)
            .unwrap_or_else(|_| jiff::Timestamp::now())
    }

    /// RFC 3339 with second precision, as metav1.Time serialises.
    pub fn now_rfc3339(&self) -> String {
        format_time(self.now())
    }
}

pub fn format_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
