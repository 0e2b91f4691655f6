//! Sums and means of native histograms with Kahan compensation, shared by the `sum` and
//! `avg` aggregations and `sum_over_time`/`avg_over_time`. A mean is computed directly
//! (sum, then divide) until the sum would overflow, then incrementally, as upstream.

use hearth_model::{AddOutcome, FloatHistogram, HistogramOpError};

/// Whether any count or the sum became infinite (upstream's `HasOverflow`).
fn has_overflow(h: &FloatHistogram) -> bool {
    h.zero_count.is_infinite()
        || h.count.is_infinite()
        || h.sum.is_infinite()
        || h.positive_buckets.iter().any(|b| b.is_infinite())
        || h.negative_buckets.iter().any(|b| b.is_infinite())
}

/// A running Kahan-compensated sum of histograms.
pub(crate) struct HistogramSum {
    sum: FloatHistogram,
    compensation: Option<FloatHistogram>,
}

impl HistogramSum {
    pub fn new(first: &FloatHistogram) -> HistogramSum {
        HistogramSum {
            sum: first.clone(),
            compensation: None,
        }
    }

    pub fn add(&mut self, h: &FloatHistogram) -> Result<AddOutcome, HistogramOpError> {
        self.sum.kahan_add(h, &mut self.compensation)
    }

    pub fn finish(mut self) -> Result<FloatHistogram, HistogramOpError> {
        if let Some(c) = &self.compensation {
            self.sum.add(c)?;
        }
        Ok(self.sum)
    }
}

/// A running mean of histograms.
pub(crate) struct HistogramMean {
    sum: FloatHistogram,
    compensation: Option<FloatHistogram>,
    count: f64,
    /// Set once the direct sum would overflow.
    incremental: Option<FloatHistogram>,
}

impl HistogramMean {
    pub fn new(first: &FloatHistogram) -> HistogramMean {
        HistogramMean {
            sum: first.clone(),
            compensation: None,
            count: 1.0,
            incremental: None,
        }
    }

    pub fn add(&mut self, h: &FloatHistogram) -> Result<AddOutcome, HistogramOpError> {
        self.count += 1.0;
        let count = self.count;
        if self.incremental.is_none() {
            let mut sum = self.sum.clone();
            let mut comp = self.compensation.clone();
            let outcome = sum.kahan_add(h, &mut comp)?;
            if !has_overflow(&sum) {
                self.sum = sum;
                self.compensation = comp;
                return Ok(outcome);
            }
            let mut mean = self.sum.clone();
            mean.div(count - 1.0);
            if let Some(c) = self.compensation.as_mut() {
                c.div(count - 1.0);
            }
            self.incremental = Some(mean);
        }
        let q = (count - 1.0) / count;
        if let Some(c) = self.compensation.as_mut() {
            c.mul(q);
        }
        let mut to_add = h.clone();
        to_add.div(count);
        match self.incremental.as_mut() {
            Some(mean) => {
                mean.mul(q);
                mean.kahan_add(&to_add, &mut self.compensation)
            }
            None => Ok(AddOutcome::default()),
        }
    }

    pub fn finish(self) -> Result<FloatHistogram, HistogramOpError> {
        if let Some(mut mean) = self.incremental {
            if let Some(c) = &self.compensation {
                mean.add(c)?;
            }
            return Ok(mean);
        }
        let mut sum = self.sum;
        sum.div(self.count);
        if let Some(mut c) = self.compensation {
            c.div(self.count);
            sum.add(&c)?;
        }
        Ok(sum)
    }
}
