//! The draw: the course's `has_won`, a bet wins when its number is 7574.

/// The number that wins (the course's `LOTTERY_WINNER_NUMBER`).
pub const WINNING_NUMBER: u16 = 7574;

/// Whether a bet on `number` wins.
pub fn has_won(number: u16) -> bool {
    number == WINNING_NUMBER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_7574_wins() {
        assert!(has_won(7574));
        assert!(!has_won(7573) && !has_won(0) && !has_won(9999));
    }
}
