//! Storage sizes on kube's flags: [`Quantity`] lives in the model, so a size means the
//! same bytes on every flag; this names the flag a refused size came from.

use brickyard_model::Quantity;

use crate::KubeError;

/// Parses a size given on `flag` (named in the error).
pub fn parse_quantity(flag: &'static str, value: &str) -> Result<Quantity, KubeError> {
    Quantity::parse(value).map_err(|e| KubeError::BadQuantity {
        flag,
        value: e.value,
        problem: e.problem.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_size_names_its_flag() {
        let e = parse_quantity("--size", "10K")
            .expect_err("refused")
            .to_string();
        assert!(e.starts_with("--size \"10K\" has suffix K"), "{e}");
        assert!(e.ends_with(brickyard_model::QUANTITY_HINT), "{e}");
        assert_eq!(
            parse_quantity("--size", "10Gi").expect("10Gi").bytes(),
            10 << 30
        );
    }
}
