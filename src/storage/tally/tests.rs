use super::*;
use crate::domain::ReceiptBuilder;

/// Bet `i` of `agency`: a name and a document of its own, every seventh a winner.
fn bet(agency: u32, i: u16, name: &str) -> ScannedBet<'_> {
    ScannedBet {
        agency,
        first_name: name.as_bytes(),
        last_name: b"Lorca",
        document: name.as_bytes(),
        birthdate: b"1999-03-17",
        number: if i.is_multiple_of(7) { 7574 } else { i },
    }
}

#[test]
fn sealed_and_open_receipts_are_those_of_each_agencys_bets_in_order() {
    let mut tally = Tally::default();
    let mut expected: Vec<ReceiptBuilder> = (0..5).map(|_| ReceiptBuilder::new()).collect();
    // Batches of different lengths, agencies interleaved, some long enough to hash mid-batch.
    for round in 0..40u16 {
        for agency in 1..=4u32 {
            if round >= 30 && agency == 2 {
                continue;
            }
            for i in 0..(round * agency as u16) % 97 {
                let name = format!("n{agency}-{round}-{i}");
                tally.add(bet(agency, i, &name));
                let b = bet(agency, i, &name);
                expected[agency as usize].add(
                    b.first_name,
                    b.last_name,
                    b.document,
                    b.birthdate,
                    b.number,
                );
            }
            if round == 29 && agency == 2 {
                // Agency 2 ends in the middle of the round; the others go on.
                tally.seal(2);
            }
        }
    }
    tally.seal(3);
    tally.seal(3);
    assert!(!tally.stale());
    for agency in 1..=4 {
        assert_eq!(
            tally.receipt(agency),
            expected[agency as usize].receipt(),
            "agency {agency}"
        );
        assert_eq!(tally.count(agency), expected[agency as usize].count());
    }
    assert_eq!(
        tally.bets(),
        (1..=4).map(|a| expected[a].count()).sum::<u64>()
    );
    let winners: Vec<&str> = tally.winners(2).iter().collect();
    assert!(winners.contains(&"n2-1-0"), "{winners:?}");
    // Sealing the rest leaves the receipts as they were, and no hasher behind.
    for agency in [1, 4] {
        tally.seal(agency);
    }
    for agency in 1..=4 {
        assert_eq!(tally.receipt(agency), expected[agency as usize].receipt());
    }
    assert!(tally.hashers.is_empty());
}

#[test]
fn an_agency_sealed_with_no_bets_has_the_receipt_of_none_and_a_later_bet_is_noticed() {
    let mut tally = Tally::default();
    tally.seal(9);
    assert_eq!(tally.receipt(9), ReceiptBuilder::new().receipt());
    assert_eq!(tally.receipt(8), ReceiptBuilder::new().receipt());
    assert!(!tally.stale());
    tally.add(bet(9, 7, "late"));
    assert!(tally.stale(), "the sealed digest no longer covers agency 9");
    assert_eq!(tally.count(9), 1, "the count still does");
    assert_eq!(tally.winners(9).iter().collect::<Vec<_>>(), ["late"]);
}

#[test]
fn hashers_go_back_as_agencies_end() {
    let mut tally = Tally::default();
    for agency in 1..=2000 {
        tally.add(bet(agency, 1, "x"));
    }
    let most = tally.hashers.capacity();
    for agency in 1..=1990 {
        tally.seal(agency);
    }
    assert!(
        tally.hashers.capacity() <= most / 8,
        "{} of {most}",
        tally.hashers.capacity()
    );
    let mut one = ReceiptBuilder::new();
    one.add(b"x", b"Lorca", b"x", b"1999-03-17", 1);
    for agency in [1, 1990, 1991, 2000] {
        assert_eq!(tally.receipt(agency), one.receipt(), "agency {agency}");
    }
}
