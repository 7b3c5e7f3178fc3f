//! Check-digit algorithms of the carriers and of GS1. Pure functions over ASCII digits; the
//! callers have already checked that every byte is a digit (or, for UPS, alphanumeric).

/// The GS1 mod-10 check digit of `data` (weights 3, 1, 3, … from the rightmost digit), used by
/// GTIN/EAN/UPC, SSCC, USPS IMpb, FedEx Ground (15 digits) and FedEx SmartPost.
pub fn gs1_mod10(data: &[u8]) -> u8 {
    let sum: u32 = data
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| u32::from(digit - b'0') * if position % 2 == 0 { 3 } else { 1 })
        .sum();
    // `sum % 10` is below 10, so the cast can not truncate.
    ((10 - sum % 10) % 10) as u8
}

/// Whether the last digit of `digits` is the GS1 mod-10 check digit of the others.
pub fn gs1_mod10_ok(digits: &[u8]) -> bool {
    match digits.split_last() {
        Some((check, data)) => check.wrapping_sub(b'0') == gs1_mod10(data),
        None => false,
    }
}

/// The UPS 1Z check digit over the 15 characters after `1Z` (shipper, service, package):
/// letters count as `(ASCII − 63) mod 10` (A = 2 … H = 9, I = 0, J = 1, K = 2 …), odd
/// positions once, even positions twice.
pub fn ups(data: &[u8]) -> u8 {
    let sum: u32 = data
        .iter()
        .enumerate()
        .map(|(index, &char)| {
            let value = if char.is_ascii_digit() {
                u32::from(char - b'0')
            } else {
                (u32::from(char) - 63) % 10
            };
            if index % 2 == 1 {
                value * 2
            } else {
                value
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// The FedEx Express mod-11 check digit: weights 1, 3, 7 repeating from the rightmost digit,
/// the sum modulo 11 and then modulo 10 (12-digit numbers, and the 13-digit serial of 34-digit
/// ones).
pub fn fedex_mod11(data: &[u8]) -> u8 {
    const WEIGHTS: [u32; 3] = [1, 3, 7];
    let sum: u32 = data
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| u32::from(digit - b'0') * WEIGHTS[position % 3])
        .sum();
    (sum % 11 % 10) as u8
}

/// The DHL Express mod-7 check digit: the number made of the other digits, modulo 7.
pub fn dhl_mod7(data: &[u8]) -> u8 {
    let remainder = data
        .iter()
        .fold(0u32, |remainder, digit| (remainder * 10 + u32::from(digit - b'0')) % 7);
    remainder as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gs1_examples_from_the_general_specifications() {
        // GTIN-13 400638133393(1); an SSCC with extension 0 and GS1 prefix 0614141.
        assert_eq!(gs1_mod10(b"400638133393"), 1);
        assert_eq!(gs1_mod10(b"00614141123456789"), 0);
        assert!(gs1_mod10_ok(b"036000291452"));
        assert!(!gs1_mod10_ok(b"036000291453"));
        assert!(!gs1_mod10_ok(b""));
    }

    #[test]
    fn carrier_examples() {
        assert_eq!(ups(b"999AA1012345678"), 4);
        assert_eq!(fedex_mod11(b"98657878885"), 5);
        assert_eq!(dhl_mod7(b"331881002"), 5);
    }
}
