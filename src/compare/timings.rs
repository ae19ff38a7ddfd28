//! Wall time per phase of a comparison (`compare --timings`).

/// Wall time per named phase in milliseconds, in first-seen order.
#[derive(Clone, Debug, Default)]
pub struct Timings(pub Vec<(&'static str, f64)>);

impl Timings {
    /// Adds the time since `since` to `phase`; returns now.
    pub fn add(&mut self, phase: &'static str, since: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        self.add_ms(phase, (now - since).as_secs_f64() * 1e3);
        now
    }

    pub fn add_ms(&mut self, phase: &'static str, ms: f64) {
        match self.0.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, t)) => *t += ms,
            None => self.0.push((phase, ms)),
        }
    }
}
