//! Turning label matchers into postings, with upstream's `PostingsForMatchers` semantics.
//!
//! A matcher that matches the empty string also selects series without the label, so it
//! cannot be answered by looking values up: it becomes "everything minus the series whose
//! value fails it". Matchers that cannot match the empty string intersect. When nothing
//! intersects, the base is the all-postings list.

use hearth_model::Matcher;

use super::{BoxPostings, empty, intersect, without};

/// What an index must offer for [`postings_for_matchers`]: implemented by the block
/// index reader and by in-memory inverted indexes ([`super::MemPostings`]).
pub trait PostingsSource {
    type Error;

    /// Calls `f` with every value of label `name` that starts with `prefix`, in
    /// ascending byte order, until `f` returns false.
    fn visit_label_values(
        &self,
        name: &str,
        prefix: &str,
        f: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), Self::Error>;

    /// The union of the postings of `name=v` for each `v` in `values` (ascending,
    /// duplicate-free). Unknown names or values contribute nothing.
    fn postings(&self, name: &str, values: &[&str]) -> Result<BoxPostings<'_>, Self::Error>;

    /// Every series: the list stored under the empty name and value.
    fn all_postings(&self) -> Result<BoxPostings<'_>, Self::Error> {
        self.postings("", &[""])
    }

    /// The union of the postings of the values of `name` starting with `prefix` for
    /// which `matches` holds.
    fn postings_for_label_matching(
        &self,
        name: &str,
        prefix: &str,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<BoxPostings<'_>, Self::Error> {
        let mut values = Vec::new();
        self.visit_label_values(name, prefix, &mut |v| {
            if matches(v) {
                values.push(v.to_string());
            }
            true
        })?;
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        self.postings(name, &values)
    }

    /// The series that have label `name` at all.
    fn postings_for_all_label_values(&self, name: &str) -> Result<BoxPostings<'_>, Self::Error> {
        self.postings_for_label_matching(name, "", &|_| true)
    }
}

/// The series selected by all of `matchers` (an empty slice selects nothing), in
/// ascending reference order.
pub fn postings_for_matchers<'a, S: PostingsSource + ?Sized>(
    ix: &'a S,
    matchers: &[Matcher],
) -> Result<BoxPostings<'a>, S::Error> {
    // A label some matcher requires to be non-empty lets the others on that name be
    // answered from its values alone (`{l=~".+", l!="1"}`).
    let must_be_set = |name: &str| {
        matchers
            .iter()
            .any(|m| m.name == name && !m.matches_empty())
    };
    let subtracting =
        |m: &Matcher| !must_be_set(&m.name) || (m.op.is_negative() && m.matches_empty());

    let mut its: Vec<BoxPostings<'a>> = Vec::new();
    let mut not_its: Vec<BoxPostings<'a>> = Vec::new();
    if matchers.iter().any(subtracting) && !matchers.iter().any(|m| !subtracting(m)) {
        // Nothing to subtract from: start with everything.
        its.push(ix.all_postings()?);
    }

    for m in matchers {
        if m.name.is_empty() && m.value.is_empty() {
            its.push(ix.all_postings()?);
        } else if must_be_set(&m.name) {
            if m.op.is_negative() && m.matches_empty() {
                // l!="foo": drop the series whose value fails it.
                not_its.push(values_postings(ix, &m.name, not_matching(m))?);
            } else {
                // l="a", l=~"a.*", l!="": keep the series whose value satisfies it.
                let p = values_postings(ix, &m.name, matching(m))?;
                if p.is_known_empty() {
                    return Ok(empty());
                }
                its.push(p);
            }
        } else {
            // l="", l=~"|a", l!~"a": everything except the series that have the label
            // with a value failing the matcher.
            let p = values_postings(ix, &m.name, not_matching(m))?;
            if !p.is_known_empty() {
                not_its.push(p);
            }
        }
    }

    let mut it = intersect(its);
    for n in not_its {
        it = without(it, n);
    }
    Ok(it)
}

/// A choice among the (non-empty) values of one label.
enum ValueSelection<'m> {
    /// Exactly these values.
    Exact(Vec<&'m str>),
    /// Every value.
    All,
    /// Values starting with `prefix` that satisfy `pred`.
    Matching {
        prefix: &'m str,
        pred: Box<dyn Fn(&str) -> bool + 'm>,
    },
}

/// The stored values `m` accepts.
fn matching(m: &Matcher) -> ValueSelection<'_> {
    values_where(m, !m.op.is_negative())
}

/// The stored values `m` rejects.
fn not_matching(m: &Matcher) -> ValueSelection<'_> {
    values_where(m, m.op.is_negative())
}

/// The stored values for which `m`'s positive form (`=` for `=`/`!=`, `=~` for
/// `=~`/`!~`) holds, or fails when `holds` is false. Finite literal sets are looked up
/// directly and regex scans start at the regex's literal prefix.
fn values_where(m: &Matcher, holds: bool) -> ValueSelection<'_> {
    let value = m.value.as_str();
    match (m.regex(), holds) {
        (None, true) => ValueSelection::Exact(vec![value]),
        (None, false) if value.is_empty() => ValueSelection::All,
        (None, false) => ValueSelection::Matching {
            prefix: "",
            pred: Box::new(move |v| v != value),
        },
        // Stored values are never empty, so `.+` holds for all of them, like `.*`.
        (Some(re), true) if re.matches_everything() || re.matches_every_non_empty() => {
            ValueSelection::All
        }
        (Some(re), true) => match re.set_matches() {
            Some(set) => ValueSelection::Exact(set),
            None => ValueSelection::Matching {
                prefix: re.prefix(),
                pred: Box::new(|v| re.is_match(v)),
            },
        },
        (Some(re), false) if re.matches_everything() || re.matches_every_non_empty() => {
            ValueSelection::Exact(Vec::new())
        }
        (Some(_), false) if value.is_empty() => ValueSelection::All,
        (Some(re), false) => ValueSelection::Matching {
            prefix: "",
            pred: Box::new(|v| !re.is_match(v)),
        },
    }
}

fn values_postings<'a, S: PostingsSource + ?Sized>(
    ix: &'a S,
    name: &str,
    sel: ValueSelection<'_>,
) -> Result<BoxPostings<'a>, S::Error> {
    match sel {
        ValueSelection::Exact(mut values) => {
            values.sort_unstable();
            values.dedup();
            if values.is_empty() {
                return Ok(empty());
            }
            ix.postings(name, &values)
        }
        ValueSelection::All => ix.postings_for_all_label_values(name),
        ValueSelection::Matching { prefix, pred } => {
            ix.postings_for_label_matching(name, prefix, &*pred)
        }
    }
}
