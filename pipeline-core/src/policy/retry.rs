use std::time::Duration;

/// How much of a backoff is random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// A random wait in `[0, ceiling]`: spreads many retriers best.
    #[default]
    Full,
    /// Half the ceiling fixed, half random: never retries at once, still spread.
    Equal,
}

/// Exponential backoff with jitter, for classified transient errors. The one
/// backoff of the framework: the paged driver, the runner's resumes and the
/// SQL sinks' commit retries all use it.
///
/// Attempt `n` (counting from 1) that failed waits a random time up to
/// `min(max_backoff, initial_backoff × 2^(n-1))` before attempt `n + 1`
/// (see [`Jitter`]). Jitter (rather than a fixed exponential) spreads retries
/// of many pipelines hitting one recovering host.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use crawlpipe_core::policy::RetryPolicy;
///
/// let policy = RetryPolicy::new(5)
///     .initial_backoff(Duration::from_millis(100))
///     .max_backoff(Duration::from_secs(5));
/// assert!(policy.backoff(3) <= Duration::from_millis(400));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    jitter: Jitter,
}

impl Default for RetryPolicy {
    /// 5 attempts, 200 ms initial backoff, 10 s at most.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            jitter: Jitter::Full,
        }
    }
}

impl RetryPolicy {
    /// A policy making at most `max_attempts` attempts (the first included;
    /// 0 is treated as 1), with the default backoff.
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            ..Self::default()
        }
    }

    /// No retries: the first error fails the collection.
    pub fn never() -> Self {
        Self::new(1)
    }

    /// Sets the ceiling of the first backoff.
    #[must_use]
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets the largest backoff. A server asking (with `Retry-After`) for a
    /// longer wait than this fails the collection with `retry_at` instead,
    /// so a runner can schedule the resume rather than hold a task asleep.
    #[must_use]
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// Sets how much of each wait is random (default [`Jitter::Full`]).
    #[must_use]
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Attempts allowed, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The largest backoff.
    pub fn max_backoff_duration(&self) -> Duration {
        self.max_backoff
    }

    /// The upper bound of the wait after failed attempt `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(32);
        self.initial_backoff
            .saturating_mul(1u32 << exp.min(31))
            .min(self.max_backoff)
    }

    /// A random wait of at most `ceiling(attempt)`: in `[0, ceiling]` with
    /// full jitter, in `[ceiling / 2, ceiling]` with equal jitter.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        match self.jitter {
            Jitter::Full => ceiling.mul_f64(fastrand::f64()),
            Jitter::Equal => ceiling / 2 + (ceiling / 2).mul_f64(fastrand::f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_maximum() {
        let p = RetryPolicy::new(10)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(1000));
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_millis(1000));
        assert_eq!(p.ceiling(200), Duration::from_millis(1000));
    }

    #[test]
    fn backoff_stays_within_the_ceiling() {
        let p = RetryPolicy::default();
        for attempt in 1..20 {
            assert!(p.backoff(attempt) <= p.ceiling(attempt));
        }
    }

    #[test]
    fn equal_jitter_keeps_half_the_ceiling() {
        let p = RetryPolicy::default().jitter(Jitter::Equal);
        for attempt in 1..20 {
            let wait = p.backoff(attempt);
            assert!(wait >= p.ceiling(attempt) / 2 && wait <= p.ceiling(attempt));
        }
    }

    #[test]
    fn zero_attempts_means_one() {
        assert_eq!(RetryPolicy::new(0).max_attempts(), 1);
    }
}
