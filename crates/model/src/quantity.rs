//! Storage sizes, written everywhere as Kubernetes quantities (`500M`, `10Gi`, `1.5Ti`):
//! `G` is 10^9 bytes and `Gi` 2^30, on every flag and in every manifest.
//!
//! Kubernetes accepts more spellings than a storage size needs (`100m` is a tenth of a
//! byte, `1e9` an exponent); brickyard accepts a positive decimal number with an optional
//! binary (`Ki`..`Ei`) or decimal (`k`..`E`) suffix, which covers every size people write,
//! and keeps the text as given so a manifest shows what was asked for.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The largest size Kubernetes can represent for a volume (its quantities are int64 bytes).
const MAX_BYTES: u128 = i64::MAX as u128;

/// The hint every refused size carries.
pub const QUANTITY_HINT: &str =
    "write a whole or decimal number with a unit, e.g. 500M, 10Gi or 1.5Ti";

/// A size that is not a quantity brickyard accepts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{value:?} {problem}")]
pub struct QuantityError {
    /// The refused text.
    pub value: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// A storage size: the text as written and the number of bytes it means (rounded up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    text: String,
    bytes: u128,
}

impl Quantity {
    /// Parses a size.
    pub fn parse(value: &str) -> Result<Self, QuantityError> {
        let fail = |problem: &'static str| QuantityError {
            value: value.to_owned(),
            problem,
        };
        let split = value
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(value.len());
        let (number, suffix) = value.split_at(split);
        let multiplier: u128 = match suffix {
            "" => 1,
            "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            "P" => 1_000_000_000_000_000,
            "E" => 1_000_000_000_000_000_000,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            "Pi" => 1 << 50,
            "Ei" => 1 << 60,
            "m" => {
                return Err(fail(
                    "is in thousandths of a byte (suffix m); use M for megabytes",
                ));
            }
            "K" => {
                return Err(fail(
                    "has suffix K, which Kubernetes does not know; use k (1000) or Ki (1024)",
                ));
            }
            s if s.starts_with(['e', 'E']) => {
                return Err(fail(
                    "uses an exponent, which brickyard does not accept for sizes",
                ));
            }
            s if s.starts_with(['+', '-']) => {
                return Err(fail("has a sign; a size is a positive number"));
            }
            _ => return Err(fail("has an unknown unit")),
        };
        if number.is_empty() {
            return Err(fail("has no number"));
        }
        let (whole, frac) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        if whole.is_empty() || frac.contains('.') || number.ends_with('.') {
            return Err(fail("is not a decimal number"));
        }
        if frac.len() > 9 {
            return Err(fail("has more than 9 decimals"));
        }
        // bytes = ceil((whole + frac / 10^len) * multiplier), in integers to stay exact.
        let scale = 10u128.pow(frac.len() as u32);
        let too_big = || fail("is larger than Kubernetes can represent (8 EiB)");
        let whole: u128 = whole.parse().map_err(|_| too_big())?;
        let frac_n: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| fail("is not a decimal number"))?
        };
        let scaled = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(frac_n))
            .and_then(|n| n.checked_mul(multiplier))
            .ok_or_else(too_big)?;
        let bytes = scaled.div_ceil(scale);
        if bytes == 0 {
            return Err(fail("is zero"));
        }
        if bytes > MAX_BYTES {
            return Err(too_big());
        }
        Ok(Self {
            text: value.to_owned(),
            bytes,
        })
    }

    /// The size as written, e.g. `10Gi`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The size in bytes.
    pub fn bytes(&self) -> u128 {
        self.bytes
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sizes() {
        for (text, bytes) in [
            ("500M", 500_000_000u128),
            ("10Gi", 10 << 30),
            ("1.5Ti", 3 << 39),
            ("1", 1),
            ("0.5", 1),
            ("100k", 100_000),
            ("2Ei", 2 << 60),
            ("0.001Ki", 2),
        ] {
            let q = Quantity::parse(text).expect(text);
            assert_eq!((q.as_str(), q.bytes()), (text, bytes), "{text}");
        }
    }

    #[test]
    fn refused_sizes() {
        for (text, problem) in [
            ("", "has no number"),
            ("Gi", "has no number"),
            ("0", "is zero"),
            ("0Gi", "is zero"),
            ("-1Gi", "has a sign"),
            ("+1Gi", "has a sign"),
            ("10 Gi", "unknown unit"),
            ("10GB", "unknown unit"),
            ("10K", "suffix K"),
            ("100m", "thousandths"),
            ("1e9", "exponent"),
            ("1.2.3", "not a decimal"),
            ("1.", "not a decimal"),
            (".5", "not a decimal"),
            ("8Ei", "larger than"),
            ("99999999999999999999999999999999999999999", "larger than"),
        ] {
            let e = Quantity::parse(text).expect_err(text).to_string();
            assert!(e.contains(problem), "{text}: {e}");
            assert!(e.starts_with(&format!("{text:?} ")), "{e}");
        }
    }

    const UNITS: &[(&str, u128)] = &[
        ("", 1),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ];

    proptest::proptest! {
        #[test]
        fn a_whole_number_with_a_unit_is_that_many_units(
            n in 1u64..(1 << 40),
            unit in proptest::sample::select(UNITS),
        ) {
            let text = format!("{n}{}", unit.0);
            let bytes = u128::from(n) * unit.1;
            match Quantity::parse(&text) {
                Ok(q) => {
                    proptest::prop_assert_eq!(q.bytes(), bytes);
                    proptest::prop_assert_eq!(q.as_str(), text.as_str());
                }
                Err(e) => {
                    proptest::prop_assert!(bytes > MAX_BYTES, "{}", e);
                    proptest::prop_assert!(e.problem.contains("larger than"), "{}", e);
                }
            }
        }

        #[test]
        fn a_decimal_rounds_up_to_whole_bytes(
            whole in 0u64..100_000,
            frac in 1u32..1000,
            unit in proptest::sample::select(UNITS),
        ) {
            let text = format!("{whole}.{frac:03}{}", unit.0);
            let exact_thousandths = (u128::from(whole) * 1000 + u128::from(frac)) * unit.1;
            let q = Quantity::parse(&text).expect("accepted");
            proptest::prop_assert_eq!(q.bytes(), exact_thousandths.div_ceil(1000));
        }

        #[test]
        fn any_text_is_a_size_or_a_reason(text in "\\PC{0,16}") {
            match Quantity::parse(&text) {
                Ok(q) => proptest::prop_assert!(q.bytes() > 0 && q.bytes() <= MAX_BYTES),
                Err(e) => proptest::prop_assert_eq!(e.value, text),
            }
        }
    }
}
