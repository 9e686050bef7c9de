//! Decimal numbers written with integer arithmetic. The standard float formatting pulls some
//! 15 KB of code into the browser bundle for the handful of numbers the pages show (a
//! temperature, a cost, seconds); these are exact to the places shown.

/// `value` rounded to `places` decimals, always with that many: `decimal(0.5, 2)` is `"0.50"`.
pub fn decimal(value: f64, places: u32) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let scale = 10_i64.pow(places);
    let scaled = (value.abs() * scale as f64).round() as i64;
    let sign = if value < 0.0 && scaled != 0 { "-" } else { "" };
    let (whole, fraction) = (scaled / scale, scaled % scale);
    if places == 0 {
        return format!("{sign}{whole}");
    }
    format!("{sign}{whole}.{fraction:0width$}", width = places as usize)
}

/// `value` with at most `places` decimals and no trailing zeros: `trimmed(0.70, 3)` is `"0.7"`.
pub fn trimmed(value: f64, places: u32) -> String {
    let text = decimal(value, places);
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_and_pad() {
        assert_eq!(decimal(0.7, 1), "0.7");
        assert_eq!(decimal(0.75, 1), "0.8");
        assert_eq!(decimal(0.0123, 4), "0.0123");
        assert_eq!(decimal(12.0, 4), "12.0000");
        assert_eq!(decimal(59.6, 0), "60");
        assert_eq!(decimal(-1.25, 1), "-1.3");
        assert_eq!(decimal(-0.01, 1), "0.0");
        assert_eq!(decimal(f64::NAN, 2), "–");
    }

    #[test]
    fn trimmed_drops_trailing_zeros() {
        assert_eq!(trimmed(0.7, 3), "0.7");
        assert_eq!(trimmed(2.0, 3), "2");
        assert_eq!(trimmed(0.125, 3), "0.125");
        assert_eq!(trimmed(1.5, 0), "2");
    }
}
